#!/usr/bin/env bash
# Builds bc-bench-images (release) and compares our input pipeline (read, decode, resize to 224, augment,
# preprocess) with Keras' flow_from_directory on the BreakHis samples, at 1 and 2 threads.
# Extra arguments go to the benchmark, e.g. `Launch/bench-images.sh --repeats 9` or `--no-peer`.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
swift build -c release --product bc-bench-images
"$(swift build -c release --show-bin-path)/bc-bench-images" --peer "$BC_PYTHON" "$@"
