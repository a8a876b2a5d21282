"""Training throughput of `ae` on 28×28 images, against the machine's fp32 matmul rate.

Prints images/s of the real training loop (AE.fit on in-memory data), the FLOPs one training image costs
(forward + backward, counted by PyTorch's FlopCounterMode), the achieved GFLOP/s, the GFLOP/s of a large
fp32 matmul on the same machine, and their ratio: the fraction of the machine's dense peak that training uses.

    python benchmarks/train_speed.py [--images 6000] [--epochs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

import oneclass
from oneclass.training import to_device


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def flops_per_training_image(det, batch: int) -> float:
    net = det.net_
    x = to_device(torch.rand(batch, *det.input_shape) * 2 - 1, det.torch_device)
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(net(x), x).backward()
    return counter.get_total_flops() / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000, help="training images (one Fashion-MNIST class: 6000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    x = np.random.default_rng(0).integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    det = oneclass.create("ae", epochs=1, device=args.device).fit(x[:256])  # warm-up, builds the net
    det = oneclass.create("ae", epochs=args.epochs, device=args.device)
    t = time.perf_counter()
    det.fit(x)
    seconds = time.perf_counter() - t
    images_per_s = args.images * args.epochs / seconds
    flops = flops_per_training_image(det, det.batch_size)
    achieved = images_per_s * flops / 1e9
    peak = matmul_gflops(det.torch_device)
    print(f"device            {det.torch_device} ({torch.get_num_threads()} threads)")
    print(f"ae                widths={det.widths} latent_dim={det.latent_dim} batch_size={det.batch_size}")
    print(f"training          {images_per_s:,.0f} images/s ({args.images} images × {args.epochs} epochs in {seconds:.1f} s)")
    print(f"cost per image    {flops / 1e6:.1f} MFLOP (forward + backward)")
    print(f"achieved          {achieved:.1f} GFLOP/s")
    print(f"fp32 matmul peak  {peak:.1f} GFLOP/s (2048×2048)")
    print(f"ratio             {achieved / peak:.1%} of the matmul rate")


if __name__ == "__main__":
    main()
