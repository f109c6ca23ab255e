#!/usr/bin/env bash
# Installs what bc-train needs, builds it, writes the synthetic BreakHis-style dataset, trains ResNet50 with two
# MPI ranks (Launch/quickstart.json; re-running continues an interrupted run) and evaluates the best checkpoint
# on the run's patient-wise test split. QUICKSTART_RUN names the run folder under Checkpoints/ (default quickstart).
cd "$(dirname "$0")/.."
source Launch/setup.sh
ensure_system_packages
for product in bc-train bc-data bc-eval; do swift build -c release --product "$product"; done
data=Checkpoints/quickstart-data
run="${QUICKSTART_RUN:-quickstart}"
[[ -d "$data/BreaKHis_v1" ]] || .build/release/bc-data synth --output "$data" --patients 40 --images-per-patient 20 --size 64 --seed 1
mpirun -n 2 .build/release/bc-train Launch/quickstart.json --set "run_name=$run" "$@"
.build/release/bc-eval --model "Checkpoints/$run/best.h5" --data "$data" --split test
