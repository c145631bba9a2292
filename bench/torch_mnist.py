#!/usr/bin/env python3
"""bench/torch_mnist.py - the report's MNIST CNN train step in PyTorch, for speed comparisons.

Same model as `kiln mnist --model cnn` (Conv 32 5x5 relu, pool, Conv 64 3x3 relu, pool,
dropout .2, Dense 512/128/50 relu, dropout .2, Dense 10; cross-entropy; Adadelta lr 1.0,
rho 0.95, eps 1e-7; Glorot-uniform weights, zero biases), batch 128 by default, random
data of MNIST's shape (speed does not depend on the values). Prints one line per figure
and `train_step_ms_median=<ms>` last, like `kiln mnist --benchmark`.

  --device cpu|cuda     where to run (cuda keeps the data on the device)
  --threads N           torch.set_num_threads (cpu)
  --compile MODE        torch.compile(mode=MODE) the step (e.g. max-autotune)
  --tf32                allow TF32 in convolutions and matrix products (default: off,
                        plain fp32 as kiln computes; PyTorch's own default allows it in cuDNN)
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def make_model():
    m = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.2), nn.Flatten(),
        nn.Linear(1600, 512), nn.ReLU(),
        nn.Linear(512, 128), nn.ReLU(),
        nn.Linear(128, 50), nn.ReLU(),
        nn.Dropout(0.2), nn.Linear(50, 10))
    for layer in m:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", default="")
    ap.add_argument("--tf32", action="store_true")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    model = make_model().to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch_size, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (a.batch_size,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if a.compile:
        step = torch.compile(step, mode=a.compile)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"torch {torch.__version__} device={a.device} threads={torch.get_num_threads()} "
          f"params={params} batch={a.batch_size} compile={a.compile or 'none'} tf32={a.tf32}")
    print(f"steps {a.steps}, min {min(times):.3f} ms, max {max(times):.3f} ms")
    print(f"train_step_ms_median={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
