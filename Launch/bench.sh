#!/usr/bin/env bash
# Builds bc-bench (release) and compares our convolutions with TensorFlow's on 1 and then 2 threads.
# Extra arguments go to every run, e.g. `Launch/bench.sh --repeats 9` or `Launch/bench.sh --no-peer`.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
swift build -c release --product bc-bench
bench="$(swift build -c release --show-bin-path)/bc-bench"
for threads in 1 2; do
    echo
    "$bench" conv --threads "$threads" --peer "$BC_PYTHON" "$@"
done
