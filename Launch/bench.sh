#!/usr/bin/env bash
# Builds bc-bench (release) and runs one of its benchmarks at 1 and then 2 threads, next to TensorFlow/Keras in
# the same run: `conv` (default: ResNet-50's convolutions, forward and backward, batch 16) or `infer` (ResNet50
# and DenseNet201 inference at 224x224, batch 32, vs Keras predict). Extra arguments go to every run, e.g.
# `Launch/bench.sh infer --repeats 5` or `Launch/bench.sh conv --no-peer`.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
benchmark="${1:-conv}"
shift || true
swift build -c release --product bc-bench
bench="$(swift build -c release --show-bin-path)/bc-bench"
for threads in 1 2; do
    echo
    "$bench" "$benchmark" --threads "$threads" --peer "$BC_PYTHON" "$@"
done
