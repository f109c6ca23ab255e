#!/usr/bin/env bash
# Training throughput and peak memory of bc-train next to Keras' train_on_batch and eager PyTorch (CPU wheel,
# channels_last, keras.applications layout; Tests/Benchmarks/torch_train_step.py) in the same run: ResNet50 and
# DenseNet201 at 224x224, global batch 16, as 1 rank x 2 threads and as 2 ranks x 1 thread (PyTorch: 2 ranks of
# DistributedDataParallel over gloo). Peak memory is the largest process's peak resident memory. bc-train runs its real loop (data loader, synchronised batch norm,
# gradient allreduce, Adam) for 2 epochs of --steps steps on synthetic images (no augmentation, no validation) and the
# second epoch's timing line gives images/s and, per step, the seconds rank 0 waited in allreduces (including for the
# other rank) and for data. Keras times train_on_batch on one fixed batch of the same shape with the same threads; for
# 2 x 1 it runs two processes of half the batch at once without exchanging gradients (an upper bound for Keras).
#   Launch/bench-train.sh                                          # the full comparison (about an hour on 2 cores)
#   Launch/bench-train.sh --size 64 --steps 2 --models resnet50    # a quick check that it runs
#   Launch/bench-train.sh --algorithm winograd                     # bc-train with compute.convolution_algorithm
#   Launch/bench-train.sh --recompute false                        # bc-train with compute.recompute_activations
#   Launch/bench-train.sh --precision "float32 mixed_bfloat16"     # rows for each: bc-train's compute.precision, Keras'
#                                                                  # mixed_bfloat16 policy, PyTorch's CPU autocast to bf16
#   Launch/bench-train.sh --repeats 3                              # each of the three runs 3 times, in turn; each cell is the
#                                                                  # median (speeds and memory alike)
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
size=224 steps=10 batch=16 models="resnet50 densenet201" peer=yes algorithm=auto precisions=float32 recompute=auto repeats=1
while (($#)); do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --models) models="$2"; shift 2 ;;
        --no-peer) peer=no; shift ;;
        --algorithm) algorithm="$2"; shift 2 ;;
        --precision) precisions="$2"; shift 2 ;;
        --recompute) recompute="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        *) echo "bench-train: unknown option $1 (options: --size N, --steps N, --models \"resnet50 densenet201\", --no-peer, --algorithm direct|winograd|auto, --precision \"float32 mixed_bfloat16\", --recompute true|false|auto, --repeats N)" >&2
           exit 2 ;;
    esac
done
for product in bc-train bc-data; do swift build -c release --product "$product"; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/bench-train.XXXXXX)"
trap 'rm -rf "$work"' EXIT
patients=8
"$bin/bc-data" synth --output "$work/data" --patients "$patients" --images-per-patient $(((steps * batch + patients - 1) / patients)) \
    --size "$size" --seed 1 >/dev/null

# bc-train on `ranks` x `threads`; prints "images/s allreduce-seconds-per-step data-seconds-per-step peak-memory"
# (rank 0's, as its timing line gives it).
ours() {
    local model="$1" ranks="$2" threads="$3" config="$work/$1-$2x$3-$precision.json"
    cat > "$config" <<JSON
{"run_name": "$model-${ranks}x$threads-$precision", "output_dir": "$work/runs",
 "model": {"architecture": "$model", "input_size": [$size, $size], "classes": 2},
 "data": {"root": "$work/data", "split_fractions": [1, 0, 0], "loader_threads": 1},
 "training": {"epochs": 2, "batch_size": $batch, "threads_per_rank": $threads},
 "callbacks": {"monitor": "loss", "checkpoint_every_minutes": 0, "progress": "epochs"},
 "compute": {"convolution_algorithm": "$algorithm", "precision": "$precision", "recompute_activations": $([[ $recompute == auto ]] && echo '"auto"' || echo "$recompute")}}
JSON
    OMP_NUM_THREADS="$threads" mpirun -n "$ranks" --bind-to none "$bin/bc-train" "$config" --no-resume </dev/null \
        | sed -n 's/^timing: \([0-9]*\) steps in .* per step \([0-9.]*\) s, of which \([0-9.]*\) s in allreduces .*), \([0-9.]*\) s waiting for data.*; peak memory \([0-9.]*\) \(.\)iB\( (tensors .*)\)\?$/\1 \2 \3 \4 \5 \6/p' \
        | tail -n 1 | awk -v batch="$batch" '{ printf "%.2f %s %s %.2f\n", batch / $2, $3, $4, $5 / ($6 == "M" ? 1024 : 1) }'
}

# Keras: `processes` simultaneous train_on_batch loops of batch/processes images with `threads` threads each;
# prints the images/s of all of them together.
keras() {
    local model="$1" processes="$2" threads="$3" outputs=() pids=()
    for ((p = 0; p < processes; p++)); do
        outputs+=("$work/keras-$p.json")
        TF_CPP_MIN_LOG_LEVEL=3 "$BC_PYTHON" Tests/Benchmarks/keras_train_step.py --architecture "$model" --size "$size" \
            --batch $((batch / processes)) --threads "$threads" --precision "$precision" > "${outputs[p]}" 2> "$work/keras-$p.log" &
        pids+=($!)
    done
    for ((p = 0; p < processes; p++)); do
        wait "${pids[p]}" || { cat "$work/keras-$p.log" >&2; return 1; }
    done
    "$BC_PYTHON" -c 'import json, sys; r = [json.load(open(f)) for f in sys.argv[2:]]; print("%.2f %.2f" % (int(sys.argv[1]) / max(x["seconds_per_step"] for x in r), max(x["peak_rss_mb"] for x in r) / 1024))' \
        "$batch" "${outputs[@]}"
}

# PyTorch: `ranks` DDP ranks of batch/ranks images with `threads` threads each; prints "images/s peak-GiB".
torch_peer() {
    "$BC_PYTHON" Tests/Benchmarks/torch_train_step.py --architecture "$1" --size "$size" --batch $((batch / $2)) \
        --ranks "$2" --threads "$3" --precision "$precision" 2>"$work/torch.log" \
        | "$BC_PYTHON" -c 'import json, sys; r = json.load(sys.stdin); print("%.2f %.2f" % (r["images_per_second"], r["peak_rss_mb"] / 1024))' \
        || { tail -n 5 "$work/torch.log" >&2; echo "failed -"; }
}

if [[ "$peer" == yes ]]; then ensure_python_referee; ensure_torch_peer; fi
# The per-column median of `repeats` lines of numbers ("-" where every run failed).
median() {
    awk '{ if (NF > columns) columns = NF
           for (c = 1; c <= NF; c++) if ($c != "-" && $c != "failed") { n[c]++; v[c, n[c]] = $c + 0 } }
         END { for (c = 1; c <= columns; c++) {
                   k = n[c]
                   if (!k) { printf "%s-", (c > 1 ? " " : ""); continue }
                   for (i = 2; i <= k; i++) { x = v[c, i]; for (j = i - 1; j >= 1 && v[c, j] > x; j--) v[c, j + 1] = v[c, j]; v[c, j + 1] = x }
                   printf "%s%.3f", (c > 1 ? " " : ""), (k % 2 ? v[c, (k + 1) / 2] : (v[c, k / 2] + v[c, k / 2 + 1]) / 2)
               }
               print "" }'
}
echo "bench-train: ${size}x$size, global batch $batch, $steps steps per epoch, second epoch timed, bc-train convolutions $algorithm, recompute_activations $recompute, median of $repeats run(s); $(lscpu | sed -n 's/^Model name: *//p')"
printf '%-12s %-16s %-15s %9s %10s %9s %9s %9s %9s %9s %9s %8s %8s\n' model layout precision "bc img/s" "allreduce" "data s" "Keras" "PyTorch" "bc/Keras" "bc/torch" "bc GiB" "Keras GiB" "torch GiB"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
for model in $models; do
    for layout in "1 2" "2 1"; do
        read -r ranks threads <<<"$layout"
        for precision in $precisions; do
            ours_runs="" keras_runs="" torch_runs=""
            for ((run = 0; run < repeats; run++)); do
                # A failed run leaves an empty line (the cell reads "failed" or "-" if every run failed).
                ours_runs+="$(ours "$model" "$ranks" "$threads" || true)"$'\n'
                if [[ "$peer" == yes ]]; then
                    keras_runs+="$(keras "$model" "$ranks" "$threads" || true)"$'\n'
                    torch_runs+="$(torch_peer "$model" "$ranks" "$threads")"$'\n'
                fi
            done
            read -r rate allreduce data memory <<<"$(median <<<"$ours_runs")"
            keras_rate="-" keras_memory="-" torch_rate="-" torch_memory="-"
            if [[ "$peer" == yes ]]; then
                read -r keras_rate keras_memory <<<"$(median <<<"$keras_runs")"
                read -r torch_rate torch_memory <<<"$(median <<<"$torch_runs")"
            fi
            printf '%-12s %-16s %-15s %9s %10s %9s %9s %9s %9s %9s %9s %8s %8s\n' "$model" "$ranks rank(s) x $threads" "$precision" \
                "${rate:-failed}" "${allreduce:--}" "${data:--}" "$keras_rate" "$torch_rate" "$(ratio "${rate:-0}" "$keras_rate")" \
                "$(ratio "${rate:-0}" "$torch_rate")" "${memory:--}" "$keras_memory" "$torch_memory"
        done
    done
done
