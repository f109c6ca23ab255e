"""PyTorch peer of Launch/bench-train.sh and Launch/bench-scale.sh: training images per second of eager PyTorch
(channels_last) for ResNet50 or DenseNet201 laid out as keras.applications builds them (ResNet50 v1 with the stride
on the first 1x1 convolution and biased convolutions, DenseNet-BC with growth 32), with bc-train's head
(global average pooling, dropout 0.5, batch norm, dense softmax), Adam and cross-entropy, on one fixed random batch.

One process: --batch images per step with --threads threads. --ranks N starts N processes joined by
DistributedDataParallel over gloo (PyTorch's CPU backend, no SyncBatchNorm), each with --batch images (weak scaling).
--precision mixed_bfloat16 runs forward and loss under CPU autocast to bfloat16 (PyTorch's counterpart of Keras'
mixed_bfloat16 policy). Prints one JSON object: seconds_per_step (the slowest rank's median), images_per_second (all ranks together) and
peak_rss_mb (the largest rank's peak resident memory)."""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time


def keras_resnet50(nn):
    def bn(channels):
        return nn.BatchNorm2d(channels, eps=1.001e-5, momentum=0.01)

    class Block(nn.Module):
        def __init__(self, inputs, filters, stride, conv_shortcut):
            super().__init__()
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, 4 * filters, 1, stride), bn(4 * filters)) if conv_shortcut else None
            self.body = nn.Sequential(
                nn.Conv2d(inputs, filters, 1, stride), bn(filters), nn.ReLU(inplace=True),
                nn.Conv2d(filters, filters, 3, 1, 1), bn(filters), nn.ReLU(inplace=True),
                nn.Conv2d(filters, 4 * filters, 1), bn(4 * filters))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            shortcut = self.shortcut(x) if self.shortcut is not None else x
            return self.relu(self.body(x) + shortcut)

    layers = [nn.ZeroPad2d(3), nn.Conv2d(3, 64, 7, 2), bn(64), nn.ReLU(inplace=True), nn.ZeroPad2d(1), nn.MaxPool2d(3, 2)]
    inputs = 64
    for filters, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for index in range(blocks):
            layers.append(Block(inputs, filters, stride if index == 0 else 1, index == 0))
            inputs = 4 * filters
    return nn.Sequential(*layers), inputs


def keras_densenet201(nn, torch):
    def bn(channels):
        return nn.BatchNorm2d(channels, eps=1.001e-5, momentum=0.01)

    class ConvBlock(nn.Module):
        def __init__(self, inputs):
            super().__init__()
            self.body = nn.Sequential(
                bn(inputs), nn.ReLU(inplace=True), nn.Conv2d(inputs, 128, 1, bias=False),
                bn(128), nn.ReLU(inplace=True), nn.Conv2d(128, 32, 3, 1, 1, bias=False))

        def forward(self, x):
            return torch.cat([x, self.body(x)], 1)

    layers = [nn.ZeroPad2d(3), nn.Conv2d(3, 64, 7, 2, bias=False), bn(64), nn.ReLU(inplace=True), nn.ZeroPad2d(1),
              nn.MaxPool2d(3, 2)]
    channels = 64
    for index, blocks in enumerate([6, 12, 48, 32]):
        for _ in range(blocks):
            layers.append(ConvBlock(channels))
            channels += 32
        if index < 3:
            layers += [bn(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, channels // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
            channels //= 2
    layers += [bn(channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers), channels


def run_rank(args):
    import torch
    import torch.nn as nn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone, features = keras_resnet50(nn) if args.architecture == "resnet50" else keras_densenet201(nn, torch)
    model = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                          nn.BatchNorm1d(features, eps=1e-3, momentum=0.01), nn.Linear(features, 2))
    model = model.to(memory_format=torch.channels_last)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=world)
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(int(os.environ.get("RANK", "0")))
    images = (torch.rand(args.batch, 3, args.size, args.size, generator=generator) * 2 - 1).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (args.batch,), generator=generator)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "mixed_bfloat16"):
            loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmups):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds_per_step": statistics.median(times), "peak_rss_mb": peak_mb}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--architecture", choices=["resnet50", "densenet201"], default="resnet50")
    for name, default in [("size", 224), ("batch", 16), ("threads", 1), ("ranks", 1), ("warmups", 2), ("repeats", 5)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32",
                        help="mixed_bfloat16 runs the forward pass under torch.autocast(\"cpu\", torch.bfloat16)")
    parser.add_argument("--rank-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_process:
        return run_rank(args)
    # OpenMP reads its thread count when PyTorch loads: each rank is a fresh process with it set.
    environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(free_port()), WORLD_SIZE=str(args.ranks))
    ranks = [subprocess.Popen([sys.executable, __file__, "--rank-process"] + sys.argv[1:], stdout=subprocess.PIPE,
                              text=True, env=dict(environment, RANK=str(rank))) for rank in range(args.ranks)]
    results = []
    for process in ranks:
        output, _ = process.communicate()
        if process.returncode != 0:
            sys.exit(f"torch_train_step: a rank failed with status {process.returncode}")
        results.append(json.loads(output.strip().splitlines()[-1]))
    seconds = max(r["seconds_per_step"] for r in results)
    print(json.dumps({"seconds_per_step": seconds, "images_per_second": args.ranks * args.batch / seconds,
                      "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}))


if __name__ == "__main__":
    main()
