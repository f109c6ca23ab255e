#!/usr/bin/env bash
# Builds bc-bench (release) and compares inference of ResNet50 and DenseNet201 (224x224, batch 32) with Keras
# `predict`, at 1 and then 2 threads. Extra arguments go to every run, e.g. `Launch/bench-infer.sh --repeats 5`.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
swift build -c release --product bc-bench
bench="$(swift build -c release --show-bin-path)/bc-bench"
for threads in 1 2; do
    echo
    "$bench" infer --threads "$threads" --peer "$BC_PYTHON" "$@"
done
