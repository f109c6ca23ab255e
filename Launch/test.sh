#!/usr/bin/env bash
# Installs everything the tests need (system libraries, a headless Chromium, openssl and curl for the HTTPS test,
# the Python/Keras referee), checks that the quickstart learns (Launch/check-quickstart.sh: a release build and a
# 2-rank training run of a few minutes, whose model QuickstartModelTests then compares with Keras), and runs the
# whole suite. With arguments (e.g. --filter X) only the selected tests run, on the quickstart model an earlier run
# left.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages chromium chromium-driver openssl curl
ensure_python_referee
if (($# == 0)); then ./Launch/check-quickstart.sh; fi
# Release, as the quickstart builds: its build then serves the tests too, which run twice as fast optimised.
swift build -c release --build-tests
swift test -c release --skip-build "$@"
