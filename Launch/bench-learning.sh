#!/usr/bin/env bash
# Does bc-train learn as Keras does? Both train the quickstart task from scratch (Launch/quickstart.json: ResNet50 at
# 64x64 with the report's head, Adam 1e-3, balanced class weights, flips and 90-degree rotations, 14 epochs of batch
# 16) once per seed, on the same patient-wise split (Keras reads the split.json of bc-train's run with that seed), and
# the script prints each run's best and last validation accuracy and loss, then per framework their mean, standard
# deviation and range, and Welch's two-sample t-test between them. bc-train runs on 2 ranks x 1 thread, Keras
# (Tests/Benchmarks/keras_learning.py, train_on_batch) on 2 threads. Not a test: about 5 minutes per seed here.
# The second task (--task breakhis-tiles) is made of real images: the eight BreakHis samples cut into 560 tiles of
# 64x64 (Tests/Benchmarks/breakhis_tiles.py), split image-wise (data.split image: tiles of one slide image fall in
# several parts; 7 patients are too few for a patient-wise validation part), with the same recipe.
#   Launch/bench-learning.sh                 # seeds 1-5
#   Launch/bench-learning.sh --seeds "1 2"   # fewer
#   Launch/bench-learning.sh --task breakhis-tiles
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3 4 5"
task=quickstart
while (($#)); do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --task) task="$2"; shift 2 ;;
        *) echo "bench-learning: unknown option $1 (options: --seeds \"1 2 3\", --task quickstart|breakhis-tiles)" >&2; exit 2 ;;
    esac
done
case "$task" in
    quickstart) task_settings=() ;;
    breakhis-tiles) task_settings=(--set data.split=image) ;;
    *) echo "bench-learning: unknown task $task (quickstart or breakhis-tiles)" >&2; exit 2 ;;
esac
source Launch/setup.sh
ensure_python_referee
for product in bc-train bc-data; do swift build -c release --product "$product"; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/bench-learning.XXXXXX)"
trap 'rm -rf "$work"' EXIT
if [[ $task == quickstart ]]; then
    "$bin/bc-data" synth --output "$work/data" --patients 40 --images-per-patient 20 --size 64 --seed 1 >/dev/null
else
    "$BC_PYTHON" Tests/Benchmarks/breakhis_tiles.py "$work/data" >/dev/null
fi

echo "bench-learning: task $task with the quickstart recipe (Launch/quickstart.json) from scratch, seeds $seeds; $(lscpu | sed -n 's/^Model name: *//p')"
printf '%-9s %5s %9s %9s %9s %9s\n' framework seed "best acc" "last acc" "best loss" "last loss"
for seed in $seeds; do
    mpirun -n 2 --bind-to none "$bin/bc-train" Launch/quickstart.json --no-resume --set "run_name=learn-$seed" \
        --set "output_dir=$work/runs" --set "data.root=$work/data" --set "training.seed=$seed" \
        --set "callbacks.progress=epochs" "${task_settings[@]}" >"$work/bc-$seed.log" 2>&1 \
        || { tail -n 5 "$work/bc-$seed.log" >&2; exit 1; }
    "$BC_PYTHON" - "$work/runs/learn-$seed/history.csv" "$seed" >>"$work/results.jsonl" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
accuracy, loss = [float(r["val_accuracy"]) for r in rows], [float(r["val_loss"]) for r in rows]
print(json.dumps({"framework": "bc-train", "seed": int(sys.argv[2]), "best_val_accuracy": max(accuracy),
                  "last_val_accuracy": accuracy[-1], "best_val_loss": min(loss), "last_val_loss": loss[-1]}))
PY
    "$BC_PYTHON" Tests/Benchmarks/keras_learning.py --data "$work/data" --split "$work/runs/learn-$seed/split.json" \
        --seed "$seed" 2>"$work/keras-$seed.log" \
        | "$BC_PYTHON" -c 'import json, sys; r = json.load(sys.stdin); r.update(framework="Keras", seed=int(sys.argv[1])); print(json.dumps(r))' "$seed" \
        >>"$work/results.jsonl" || { tail -n 5 "$work/keras-$seed.log" >&2; exit 1; }
    tail -n 2 "$work/results.jsonl" | "$BC_PYTHON" -c '
import json, sys
for r in map(json.loads, sys.stdin):
    print("%-9s %5d %9.4f %9.4f %9.4f %9.4f" % (r["framework"], r["seed"], r["best_val_accuracy"], r["last_val_accuracy"], r["best_val_loss"], r["last_val_loss"]))'
done
"$BC_PYTHON" - "$work/results.jsonl" <<'PY'
import json, statistics, sys
from scipy import stats
results = [json.loads(line) for line in open(sys.argv[1])]
print()
print("%-18s %-9s %8s %8s %17s" % ("metric", "framework", "mean", "std", "range"))
for metric in ["best_val_accuracy", "last_val_accuracy", "best_val_loss", "last_val_loss"]:
    groups = {f: [r[metric] for r in results if r["framework"] == f] for f in ["bc-train", "Keras"]}
    for framework, values in groups.items():
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        print("%-18s %-9s %8.4f %8.4f %8.4f-%.4f" % (metric, framework, statistics.mean(values), spread, min(values), max(values)))
    if all(len(v) > 1 for v in groups.values()):
        test = stats.ttest_ind(groups["bc-train"], groups["Keras"], equal_var=False)
        print("%-18s Welch's t-test: t = %.2f, p = %.3f" % (metric, test.statistic, test.pvalue))
PY
