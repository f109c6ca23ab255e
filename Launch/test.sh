#!/usr/bin/env bash
# Installs everything the tests need (system libraries, the Python/Keras referee), then runs the whole suite.
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages chromium chromium-driver
ensure_python_referee
swift build --build-tests
swift test --skip-build "$@"
