#!/usr/bin/env bash
# Times bc-serve's JSON API on loopback: latency p50/p99 and throughput at 1, 4 and 16 concurrent clients, each
# request one real BreakHis 700x460 patch, against a release bc-serve with keras.applications ResNet50 (untrained,
# input SIZE, default 224) on THREADS oneDNN threads (default 2). Not a test: the machine is shared, so it prints
# the median of a few rounds. Usage: Launch/bench-serve.sh [SIZE] [THREADS] [SECONDS]
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
ensure_python_referee
size="${1:-224}" threads="${2:-2}" seconds="${3:-10}"
swift build -c release --product bc-serve
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
"$BC_PYTHON" Tests/Benchmarks/keras_resnet50_model.py "$work/resnet50.h5" "$size"
.build/release/bc-serve --model "$work/resnet50.h5" --port 0 --threads "$threads" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do grep -q "http://" "$work/serve.log" && break; sleep 0.2; done
url="$(grep -o 'http://[0-9.]*:[0-9]*' "$work/serve.log" | head -1)"
[[ -n "$url" ]] || { cat "$work/serve.log"; exit 1; }
echo "bc-serve at $url: $(head -1 "$work/serve.log" | sed 's/^bc-serve: //')"
sample="$(ls Tests/Fixtures/breakhis-sample/400X/malignant/*.png | head -1)"
"$BC_PYTHON" Tests/Benchmarks/serve_load.py --url "$url" --seconds "$seconds" --clients 1,4,16 "$sample"
