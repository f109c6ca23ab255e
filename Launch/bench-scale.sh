#!/usr/bin/env bash
# Weak scaling of bc-train's real training loop next to PyTorch DistributedDataParallel (gloo, no SyncBatchNorm) in
# the same run: 1, 2, 4, ... ranks up to the machine's cores / --threads, each rank with --batch images per step
# (the global batch grows with the ranks), synthetic images, no augmentation or validation. bc-train runs 2 epochs
# of --steps steps per variant and its second epoch's timing line gives images/s and, per step, the seconds rank 0
# spent computing, in exposed communication (waiting at the gradient allreduce after backward, in batch-norm
# allreduces, and in the small metric and agreement allreduces, each including waits for slower ranks) and waiting for
# data. Variants: overlap and sync BN on (the defaults), overlap off, sync BN off. Efficiency at n ranks is
# images/s(n) / (n x images/s(1)). Each bc-train row is the run with the median images/s of --repeats runs (default
# 3); the PyTorch peer's is the median of --steps steps after 2 warm-up steps per rank.
#   Launch/bench-scale.sh                                   # ResNet50 224, batch 8 per rank, 1 thread per rank
#   Launch/bench-scale.sh --threads 2 --models "resnet50 densenet201"
#   Launch/bench-scale.sh --size 64 --steps 2 --max-ranks 2 # a quick check that it runs
# On a machine without apt or Swift (the portable bundle): BC_BIN=folder-with-bc-train-and-bc-data and, for the peer,
# BC_PYTHON=a-python-with-torch; mpirun is taken from PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
size=224 steps=6 batch=8 threads=1 models="resnet50" peer=yes max_ranks="" repeats=3
while (($#)); do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --models) models="$2"; shift 2 ;;
        --max-ranks) max_ranks="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --no-peer) peer=no; shift ;;
        *) echo "bench-scale: unknown option $1 (options: --size N, --steps N, --batch N (per rank), --threads N (per rank), --models \"resnet50 densenet201\", --max-ranks N, --repeats N, --no-peer)" >&2
           exit 2 ;;
    esac
done
if [[ -n "${BC_BIN:-}" ]]; then
    bin="$BC_BIN"
else
    source Launch/setup.sh
    for product in bc-train bc-data; do swift build -c release --product "$product"; done
    bin="$(swift build -c release --show-bin-path)"
    if [[ "$peer" == yes ]]; then ensure_python_referee; ensure_torch_peer; fi
fi
cores="$(nproc)"
max_ranks="${max_ranks:-$((cores / threads))}"
work="$(mktemp -d /tmp/bench-scale.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# A dataset of exactly `steps` global batches for `ranks` ranks: one epoch is `steps` steps at any rank count.
dataset() {
    local ranks="$1" patients=8
    if [[ ! -d "$work/data-$ranks" ]]; then
        "$bin/bc-data" synth --output "$work/data-$ranks" --patients "$patients" \
            --images-per-patient $(((steps * batch * ranks + patients - 1) / patients)) --size "$size" --seed 1 >/dev/null
    fi
    echo "$work/data-$ranks"
}

# bc-train on `ranks` ranks; prints "images/s step-s compute-s gradient-s batchnorm-s small-s data-s".
ours() {
    local model="$1" ranks="$2" overlap="$3" sync="$4" config="$work/run.json"
    cat > "$config" <<JSON
{"run_name": "scale", "output_dir": "$work/runs",
 "model": {"architecture": "$model", "input_size": [$size, $size], "classes": 2},
 "data": {"root": "$(dataset "$ranks")", "split_fractions": [1, 0, 0], "loader_threads": 1},
 "training": {"epochs": 2, "batch_size": $((batch * ranks)), "threads_per_rank": $threads},
 "distributed": {"overlap": $overlap, "sync_batch_norm": $sync},
 "callbacks": {"monitor": "loss", "checkpoint_every_minutes": 0, "progress": "epochs"}}
JSON
    local oversubscribe=() binding=(--bind-to core --map-by "slot:PE=$threads")
    ((ranks * threads > cores)) && oversubscribe=(--oversubscribe) binding=(--bind-to none)
    OMP_NUM_THREADS="$threads" mpirun -n "$ranks" "${oversubscribe[@]}" "${binding[@]}" "$bin/bc-train" "$config" \
        --no-resume </dev/null 2>"$work/err.log" \
        | sed -n 's/^timing: \([0-9]*\) steps in \([0-9.]*\) s, .*; per step \([0-9.]*\) s, of which [0-9.]* s in allreduces (gradients \([0-9.]*\), batch norm \([0-9.]*\), metrics and step agreement \([0-9.]*\)), \([0-9.]*\) s waiting for data.*/\1 \2 \3 \4 \5 \6 \7/p' \
        | tail -n 1 | awk -v images=$((batch * ranks)) '{ printf "%.2f %.3f %.3f %.3f %.3f %.3f %.3f\n", images / $3, $3, $3 - $4 - $5 - $6 - $7, $4, $5, $6, $7 }'
}

# The run with the median images/s of `repeats` runs of `ours`.
ours_median() {
    for ((run = 0; run < repeats; run++)); do ours "$@" || true; done | grep . | sort -n -k1,1 | awk '{ line[NR] = $0 } END { if (NR) print line[int((NR + 1) / 2)] }'
}

theirs() {
    "$BC_PYTHON" Tests/Benchmarks/torch_train_step.py --architecture "$1" --size "$size" --batch "$batch" \
        --threads "$threads" --ranks "$2" --repeats "$steps" 2>"$work/torch.log" \
        | "$BC_PYTHON" -c 'import json, sys; print("%.2f" % json.load(sys.stdin)["images_per_second"])' || echo failed
}

efficiency() { awk -v rate="$1" -v ranks="$2" -v single="$3" 'BEGIN { if (rate + 0 > 0 && single + 0 > 0) printf "%.2f", rate / (ranks * single); else printf "-" }'; }

echo "bench-scale: ${size}x$size, $batch images per rank and step, $threads thread(s) per rank, $steps steps timed, median of $repeats runs; $(lscpu | sed -n 's/^Model name: *//p'), $cores cores"
printf '%-11s %5s %-18s %8s %5s %7s %8s %9s %8s %7s %6s %9s %5s %7s\n' model ranks variant "img/s" eff "step s" "compute" "gradient" "batchnrm" "small" "data" "DDP img/s" eff "bc/DDP"
for model in $models; do
    declare -A single=()
    for ((ranks = 1; ranks <= max_ranks; ranks *= 2)); do
        peer_rate="-"
        if [[ "$peer" == yes ]]; then peer_rate="$(theirs "$model" "$ranks")"; fi
        [[ $ranks == 1 ]] && single[peer]="$peer_rate"
        for variant in "overlap,sync-bn:true true" "no-overlap,sync-bn:false true" "overlap,no-sync-bn:true false"; do
            read -r name flags <<<"${variant/:/ }"
            read -r overlap sync <<<"${flags/,/ }"
            [[ $ranks == 1 && $name != "overlap,sync-bn" ]] && continue  # one rank makes no MPI calls
            read -r rate step compute gradient batchnorm small data <<<"$(ours_median "$model" "$ranks" "$overlap" "$sync")"
            [[ $ranks == 1 ]] && single[ours]="${rate:-0}"
            ratio="-"
            [[ "$peer_rate" =~ ^[0-9.]+$ && -n "${rate:-}" ]] && ratio="$(awk -v a="$rate" -v b="$peer_rate" 'BEGIN { printf "%.2f", a / b }')"
            printf '%-11s %5s %-18s %8s %5s %7s %8s %9s %8s %7s %6s %9s %5s %7s\n' "$model" "$ranks" "$name" "${rate:-failed}" \
                "$(efficiency "${rate:-0}" "$ranks" "${single[ours]}")" "${step:--}" "${compute:--}" "${gradient:--}" \
                "${batchnorm:--}" "${small:--}" "${data:--}" "$peer_rate" "$(efficiency "$peer_rate" "$ranks" "${single[peer]}")" "$ratio"
            [[ -z "${rate:-}" ]] && sed 's/^/  bc-train: /' "$work/err.log" | tail -n 5 >&2
        done
    done
done
