#!/usr/bin/env bash
# Installs everything the tests need (system libraries, the Python/Keras referee), runs the whole suite, then checks
# that the quickstart learns (Launch/check-quickstart.sh: a release build and a 2-rank training run of a few
# minutes). With arguments (e.g. --filter X) only the selected tests run, without the quickstart check.
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
swift build --build-tests
swift test --skip-build "$@"
if (($# == 0)); then ./Launch/check-quickstart.sh; fi
