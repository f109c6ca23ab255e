#!/usr/bin/env bash
# Two nodes emulated on one machine (needs root): two network namespaces joined through a bridge by veth pairs, the
# links shaped with tc's tbf qdisc, and mpirun starting one Open MPI daemon in each namespace as it would over ssh
# on a cluster (its rsh agent is a script that enters the namespace), so ranks talk over TCP as between hosts.
#  1. bc-bench allreduce: MPI_Allreduce times by size on each link rate (the alpha and beta of the link);
#  2. bc-train's real loop (ResNet50, --batch images per rank, 1 thread per rank) across the two nodes per link rate
#     next to the same 2 ranks on one node (shared memory): images/s and per step the exposed gradient and batch-norm
#     communication;
#  3. Tests/Benchmarks/allreduce_model.py: an alpha-beta model of 2 to 64 nodes at the measured link and at 10 and
#     25 Gbit/s, and the compute per step below which overlap stops hiding the communication.
# The namespaces, bridge and veth pairs are this script's own (named bcn<pid>...) and removed on exit; no traffic
# leaves them. Open MPI's busy-polling ranks would starve the kernel's packet processing on a small machine, so they
# yield when idle (mpi_yield_when_idle), as on an oversubscribed node.
#   Launch/bench-network.sh                                  # ResNet50 224, links: unshaped, 25, 10, 2.5, 1 Gbit/s
#   Launch/bench-network.sh --size 64 --steps 2 --rates "unshaped 1gbit" --train-rates unshaped   # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
size=224 steps=4 batch=8 rates="unshaped 25gbit 10gbit 2.5gbit 1gbit" train_rates="unshaped 10gbit 1gbit"
while (($#)); do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --rates) rates="$2"; shift 2 ;;
        --train-rates) train_rates="$2"; shift 2 ;;
        *) echo "bench-network: unknown option $1 (options: --size N, --steps N, --batch N (per rank), --rates \"unshaped 10gbit ...\", --train-rates \"...\")" >&2
           exit 2 ;;
    esac
done
[[ "$(id -u)" == 0 ]] || { echo "bench-network: needs root (network namespaces, veth pairs, tc)" >&2; exit 2; }
source Launch/setup.sh
for product in bc-train bc-data bc-bench; do swift build -c release --product "$product"; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/bench-network.XXXXXX)"
prefix="bcn$$"
cleanup() {
    for node in 0 1; do ip netns del "${prefix}n$node" 2>/dev/null || true; done
    ip link del "${prefix}br" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Node i is namespace ${prefix}n$i at 10.79.0.(i+1); the bridge (the "switch") is 10.79.0.254 in this namespace,
# where mpirun runs.
ip link add "${prefix}br" type bridge
ip addr add 10.79.0.254/24 dev "${prefix}br"
ip link set "${prefix}br" mtu 9000 up
for node in 0 1; do
    ns="${prefix}n$node"
    ip netns add "$ns"
    ip link add "${prefix}v$node" type veth peer name "${prefix}p$node"
    ip link set "${prefix}v$node" netns "$ns"
    ip link set "${prefix}p$node" master "${prefix}br" mtu 9000 up
    ip -n "$ns" addr add "10.79.0.$((node + 1))/24" dev "${prefix}v$node"
    ip -n "$ns" link set "${prefix}v$node" mtu 9000 up
    ip -n "$ns" link set lo up
done
cat > "$work/agent" <<AGENT
#!/bin/sh
# mpirun's "ssh HOST COMMAND": runs COMMAND in the namespace of HOST's address.
host="\$1"; shift
exec ip netns exec "${prefix}n\$(( \${host##*.} - 1 ))" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"

# Shapes both nodes' outgoing links to `rate` (tbf; its bucket holds 10 ms at that rate), or removes the shaping.
shape() {
    local rate="$1"
    for node in 0 1; do
        if [[ "$rate" == unshaped ]]; then
            ip netns exec "${prefix}n$node" tc qdisc del dev "${prefix}v$node" root 2>/dev/null || true
        else
            local burst; burst="$(awk -v r="$rate" 'BEGIN { n = r + 0; u = substr(r, length(n "") + 1)
                bytes = n * (u == "gbit" ? 1e9 : u == "mbit" ? 1e6 : 1) / 8 / 100; printf "%d", (bytes > 65536 ? bytes : 65536) }')"
            ip netns exec "${prefix}n$node" tc qdisc replace dev "${prefix}v$node" root tbf rate "$rate" burst "$burst" latency 100ms
        fi
    done
}

# One rank on each emulated node. A launch that fails (once, here, an Open MPI daemon crashed while starting) is
# tried once more, saying so.
across_nodes() {
    local attempt
    for attempt in 1 2; do
        mpirun --mca plm_rsh_agent "$work/agent" --host 10.79.0.1,10.79.0.2 --mca btl tcp,self \
            --mca btl_tcp_if_include 10.79.0.0/24 --mca oob_tcp_if_include 10.79.0.0/24 --mca mpi_yield_when_idle 1 \
            -x OMP_NUM_THREADS=1 -n 2 "$@" 2>"$work/launch.log" && return 0
        echo "bench-network: launch $attempt of $* failed: $(grep -m 1 -v '^-*$' "$work/launch.log")" >&2
    done
    return 1
}

echo "bench-network: 2 emulated nodes, 1 rank each; $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "allreduce (bc-bench allreduce, median of 15 per size):"
models=()
for rate in $rates; do
    shape "$rate"
    across_nodes "$bin/bc-bench" allreduce > "$work/allreduce-$rate.jsonl"
    models+=("$rate=$work/allreduce-$rate.jsonl")
    sed "s/^/  $rate: /" "$work/allreduce-$rate.jsonl"
done

"$bin/bc-data" synth --output "$work/data" --patients 8 --images-per-patient $(((steps * batch * 2 + 7) / 8)) \
    --size "$size" --seed 1 >/dev/null
cat > "$work/run.json" <<JSON
{"run_name": "network", "output_dir": "$work/runs",
 "model": {"architecture": "resnet50", "input_size": [$size, $size], "classes": 2},
 "data": {"root": "$work/data", "split_fractions": [1, 0, 0], "loader_threads": 1},
 "training": {"epochs": 2, "batch_size": $((batch * 2)), "threads_per_rank": 1},
 "callbacks": {"monitor": "loss", "checkpoint_every_minutes": 0, "progress": "epochs"}}
JSON
# Prints "images/s step-s compute-s gradient-s batchnorm-s" from rank 0's second-epoch timing line.
timing() {
    sed -n 's/^timing: \([0-9]*\) steps in .*; per step \([0-9.]*\) s, of which [0-9.]* s in allreduces (gradients \([0-9.]*\), batch norm \([0-9.]*\), metrics and step agreement \([0-9.]*\)), \([0-9.]*\) s waiting for data.*/\2 \3 \4 \5 \6/p' \
        | tail -n 1 | awk -v images=$((batch * 2)) '{ printf "%.2f %.3f %.3f %.3f %.3f\n", images / $1, $1, $1 - $2 - $3 - $4 - $5, $2, $3 }'
}
echo "bc-train ResNet50 ${size}x$size, $batch images per rank, 2 ranks x 1 thread, second epoch of $steps steps:"
printf '  %-26s %8s %8s %9s %14s %14s\n' where "img/s" "step s" "compute s" "grad exposed s" "batch norm s"
read -r rate step compute gradient batchnorm <<<"$(OMP_NUM_THREADS=1 mpirun -n 2 --bind-to none "$bin/bc-train" "$work/run.json" --no-resume </dev/null | timing)"
printf '  %-26s %8s %8s %9s %14s %14s\n' "one node (shared memory)" "$rate" "$step" "$compute" "$gradient" "$batchnorm"
compute_seconds="$compute"
for link in $train_rates; do
    shape "$link"
    read -r rate step compute gradient batchnorm <<<"$(across_nodes "$bin/bc-train" "$work/run.json" --no-resume </dev/null | timing)"
    printf '  %-26s %8s %8s %9s %14s %14s\n' "2 nodes, link $link" "$rate" "$step" "$compute" "$gradient" "$batchnorm"
done
shape unshaped
echo
python3 Tests/Benchmarks/allreduce_model.py "${models[@]}" --compute-seconds "$compute_seconds"
