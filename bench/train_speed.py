"""Training speed on this CPU: optimisation steps per second for each speed-up the CPU recipe could use.

    python -m bench.train_speed [--size 320] [--batch 6] [--steps 4] [--rounds 3]

Variants are interleaved round by round (a busy machine slows them alike) and each is reported as the
median seconds per step and its ratio to plain fp32. bf16 autocast is only measured where the CPU has
native bf16 (AVX512-BF16 or AMX); elsewhere it is emulated and slow. Also measures the cost of preparing
one training sample (augmentation), the work a loader worker process would take off the training threads.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from bench.hardware import detect
from model.serving import cpu_has_native_bf16
from model.training.losses import supervised_loss
from model.training.torch_setup import freeze_early_backbone, new_network, normalise, set_train_mode


def _step_fn(
    channels_last: bool, bf16: bool, frozen_stages: int, size: int, batch: int
) -> Callable[[], None]:
    net = new_network()
    set_train_mode(net, freeze_backbone_bn=True)
    freeze_early_backbone(net, frozen_stages)
    images_u8 = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    alpha = (torch.rand(batch, 1, size, size) > 0.5).float()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        images = normalise(images_u8)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with context:
            semantic, detail, matte = net(images, False)
        assert semantic is not None and detail is not None
        loss = supervised_loss(images, semantic, detail, matte, alpha).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _augment_seconds(samples: int, size: int) -> float:
    from model.training.augment import AugmentConfig, Source, augment

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (448, 600, 3), dtype=np.uint8)
    alpha = np.zeros((448, 600), np.uint8)
    alpha[100:400, 200:400] = 255
    sources = [Source(image, alpha, image, (1080, 1440)) for _ in range(2)]
    started = time.perf_counter()
    for i in range(samples):
        augment(np.random.default_rng(i), sources, 0, size, size, i % 2 == 0, AugmentConfig())
    return (time.perf_counter() - started) / samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants: dict[str, tuple[bool, bool, int]] = {
        "fp32": (False, False, 0),
        "fp32 channels_last": (True, False, 0),
        "fp32, backbone stages 0-6 frozen": (False, False, 7),
    }
    if cpu_has_native_bf16():
        variants["bf16 autocast"] = (False, True, 0)
        variants["bf16 autocast channels_last"] = (True, True, 0)
        variants["bf16 autocast, stages 0-6 frozen"] = (False, True, 7)
    steps = {name: _step_fn(*flags, args.size, args.batch) for name, flags in variants.items()}
    for step in steps.values():  # warm-up: allocator, oneDNN primitive caches
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}/{args.rounds}", flush=True)
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - started) / args.steps)
    base = statistics.median(times["fp32"])
    print(f"# training step, batch {args.batch} x {args.size}x{args.size}, {args.threads} threads")
    print(f"Hardware: {detect().label()}, native bf16: {cpu_has_native_bf16()}")
    print("| variant | ratio vs fp32 (higher is faster) | s / step (median) |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {base / median:.2f}x | {median:.2f} |")
    print(f"augmentation: {_augment_seconds(12, args.size) * 1000:.0f} ms per {args.size} px sample")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
