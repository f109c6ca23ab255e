"""Model of Launch/bench-network.sh: where overlap stops hiding bc-train's communication as nodes are added.

Reads the allreduce timings bc-bench measured between two emulated nodes (JSON lines: bytes, seconds), fits
t(n) = a + b n per link rate (a: latency, b: seconds per byte), and models one ResNet50 training step per node
(alpha-beta model, one rank per node):

- gradients: 25.6 M float32 values in buckets of --bucket-megabytes, filled in the order backward produces them
  (the last layers first); each bucket's ring allreduce, 2 (p - 1) alpha + 2 (p - 1) / p x bytes x beta, starts when
  its last gradient is final and the previous bucket's allreduce has finished (bc-train's GradientExchange). Backward
  time is spread over the layers in proportion to their FLOPs. Exposed: what runs past the end of backward.
- synchronised batch norm: 2 allreduces per layer (54 layers), each of 2 C + 1 doubles, latency-bound: recursive
  doubling, ceil(log2 p) x (alpha + bytes x beta), never hidden (the layer waits for it).
Prints, for each node count and link, the exposed communication per step and the efficiency compute / (compute +
exposed), with compute the measured per-step compute of the 2-node training run (--compute-seconds) of which
--backward-share is backward; and the compute per step below which exposed communication passes 5% of the step
(faster nodes, e.g. bf16 on AMX, leave backward less time to hide the same bytes)."""
import argparse
import json
import math


def resnet50_layers(size=224):
    """(name, parameters, forward FLOPs) of ResNet50's convolutions and the head, in forward order, at size x size."""
    layers = []

    def conv(name, kernel, inputs, outputs, out_size):
        layers.append((name, kernel * kernel * inputs * outputs + outputs, 2 * kernel * kernel * inputs * outputs * out_size * out_size))
        layers.append((name + "_bn", 2 * outputs, 0))

    spatial = size // 2
    conv("conv1", 7, 3, 64, spatial)
    spatial //= 2
    inputs = 64
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            out = spatial // stride
            prefix = f"conv{stage}_block{block}"
            if block == 1:
                conv(prefix + "_0", 1, inputs, 4 * filters, out)
            conv(prefix + "_1", 1, inputs, filters, out)
            conv(prefix + "_2", 3, filters, filters, out)
            conv(prefix + "_3", 1, filters, 4 * filters, out)
            inputs, spatial = 4 * filters, out
    layers.append(("bn_head", 2 * inputs, 0))
    layers.append(("predictions", inputs * 2 + 2, 2 * inputs * 2))
    return layers


def fit(points):
    """Least-squares a + b n through (bytes, seconds)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return max(mean_y - slope * mean_x, 0.0), slope


def step_communication(nodes, alpha, beta, backward_seconds, bucket_bytes, layers):
    """(exposed gradient seconds, total gradient allreduce seconds, batch-norm seconds) of one step on `nodes`."""
    total_flops = sum(2 * flops for _, _, flops in layers)
    clock, buckets, filled = 0.0, [], 0
    for _, parameters, flops in reversed(layers):  # backward order
        clock += backward_seconds * 2 * flops / total_flops
        filled += 4 * parameters
        if filled >= bucket_bytes:
            buckets.append((clock, filled))
            filled = 0
    if filled:
        buckets.append((backward_seconds, filled))
    busy_until, total = 0.0, 0.0
    for ready, size in buckets:
        duration = 2 * (nodes - 1) * alpha + 2 * (nodes - 1) / nodes * size * beta
        busy_until = max(busy_until, ready) + duration
        total += duration
    exposed = max(0.0, busy_until - backward_seconds)
    batch_norm = sum(2 * math.ceil(math.log2(nodes)) * (alpha + (2 * (parameters // 2) + 1) * 8 * beta)
                     for name, parameters, _ in layers if name.endswith("_bn") or name == "bn_head")
    return exposed, total, batch_norm


def threshold(nodes, alpha, beta, args, layers):
    """The compute per step (bisected) at which exposed communication is 5% of the step."""
    def share(compute):
        exposed, _, batch_norm = step_communication(nodes, alpha, beta, compute * args.backward_share,
                                                    args.bucket_megabytes * 2 ** 20, layers)
        return (exposed + batch_norm) / (compute + exposed + batch_norm)
    low, high = 1e-4, 100.0
    for _ in range(60):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if share(middle) > 0.05 else (low, middle)
    return high


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("measurements", nargs="+", help="RATE=FILE: bc-bench allreduce output on a link shaped to RATE")
    parser.add_argument("--compute-seconds", type=float, required=True)
    parser.add_argument("--backward-share", type=float, default=0.6)
    parser.add_argument("--bucket-megabytes", type=float, default=16)
    args = parser.parse_args()

    print("allreduce between 2 emulated nodes, fitted t = latency + bytes / throughput (medians per size):")
    fits = {}
    for item in args.measurements:
        rate, path = item.split("=", 1)
        points = [(r["bytes"], r["seconds"]) for r in map(json.loads, open(path)) if r]
        latency, per_byte = fit(points)
        small = min(points)[1]
        fits[rate] = (small, per_byte)
        print(f"  link {rate:>9}: smallest allreduce {small * 1e6:8.1f} us, fitted latency {latency * 1e6:8.1f} us, "
              f"throughput {8 / per_byte / 1e9:6.2f} Gbit/s each way")

    layers = resnet50_layers()
    parameters = sum(p for _, p, _ in layers)
    backward = args.compute_seconds * args.backward_share
    # alpha: the smallest allreduce between 2 nodes, one exchange. beta: a 2-rank ring allreduce sends n/2 bytes each
    # way twice, n bytes per direction, so its fitted seconds per byte is the link's; nominal links at their rate.
    alpha = min(small for small, _ in fits.values())
    links = [(name, alpha, per_byte) for name, (_, per_byte) in fits.items()]
    links += [(f"{g} Gbit/s (nominal)", alpha, 8 / (g * 1e9)) for g in (10, 25)]
    print(f"\nResNet50 ({parameters / 1e6:.1f} M parameters, {len([l for l in layers if l[0].endswith('_bn')]) + 1} batch-norm "
          f"layers), compute {args.compute_seconds:.2f} s per step of which backward {backward:.2f} s, "
          f"{args.bucket_megabytes:g} MB buckets, alpha {alpha * 1e6:.1f} us:")
    print(f"  {'link':<22} {'nodes':>5} {'grad allreduce s':>16} {'grad exposed s':>14} {'batch norm s':>12} "
          f"{'efficiency':>10} {'eff. no sync BN':>15} {'>5% exposed below compute s':>27}")
    for name, link_alpha, beta in links:
        for nodes in (2, 8, 16, 32, 64):
            exposed, total, batch_norm = step_communication(nodes, link_alpha, beta, backward,
                                                            args.bucket_megabytes * 2 ** 20, layers)
            efficiency = args.compute_seconds / (args.compute_seconds + exposed + batch_norm)
            unsynchronised = args.compute_seconds / (args.compute_seconds + exposed)
            print(f"  {name:<22} {nodes:>5} {total:>16.3f} {exposed:>14.3f} {batch_norm:>12.3f} {efficiency:>10.2f} "
                  f"{unsynchronised:>15.2f} {threshold(nodes, link_alpha, beta, args, layers):>27.3f}")


if __name__ == "__main__":
    main()
