#!/usr/bin/env bash
# Installs what bc-train needs, builds it, and trains the built-in default with two MPI ranks.
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
swift build -c release --product bc-train
mpirun -n 2 .build/release/bc-train "$@"
