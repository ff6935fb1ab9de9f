"""Train, export and measure the shapes demo's 2x super-resolution model
(models/shapes-demo/upscaler/: ESRGAN-style ONNX, `image` [B,3,H,W] RGB in [0,1] ->
`upscaled` [B,3,2H,2W] in [0,1], dynamic H and W). Resumable (checkpoints/upscaler.pt).

  python3 models/train/upscaler.py [--steps 2000] [--threads 1]

Training pairs are rendered on the fly: a shape on a background, antialiased (drawn at 4x
and box-filtered), at a random size; the low-resolution input is its 2x box downscale,
rounded to 8 bits like every image the pipeline hands it. The held-out set is
64 full 256x256 images of the held-out combos (their own seed), downscaled to 128x128:
PSNR of the model against Lanczos-3 and bicubic (Pillow) is printed and written to
upscaler/training_info.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import ALL_COMBOS, REPO, holdout_combos, random_layout, render  # noqa: E402
from train import CHECKPOINT_DIR, log, lr_at, save  # noqa: E402
from export import export_graph, session  # noqa: E402

SCALE = 2
SUPERSAMPLE = 4


class Upscaler(nn.Module):
    """Five 3x3 convolutions at the input resolution, a pixel shuffle to 2x, added to the
    bicubic 2x of the input. Its reach is 5 input pixels, well inside the pipeline's 16 px tile margin."""

    def __init__(self, ch=32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, 3 * SCALE * SCALE, 3, padding=1),
        )
        # Start as the plain bicubic 2x: training learns only the correction.
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, image):
        base = F.interpolate(image, scale_factor=float(SCALE), mode="bicubic", align_corners=False)
        return torch.clamp(base + F.pixel_shuffle(self.body(image), SCALE), 0.0, 1.0)


def render_smooth(combo, width, height, rng):
    """An antialiased rendering, uint8 HxWx3: drawn at 4x, then box-filtered."""
    size, x0, y0 = random_layout(rng, width, height)
    s = SUPERSAMPLE
    big = render(*combo, size * s, x0 * s, y0 * s, width * s, height * s).astype(np.float32)
    return big.reshape(height, s, width, s, 3).mean(axis=(1, 3)).round().astype(np.uint8)


def to_tensor(imgs):
    return torch.from_numpy(np.stack(imgs)).float().div(255.0).permute(0, 3, 1, 2).contiguous()


def downscale(hr):
    return F.avg_pool2d(hr, SCALE)


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse)


def to_uint8(x):
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def holdout_set(n=64, side=256):
    rng = np.random.default_rng(99)
    combos = holdout_combos()
    hr = [render_smooth(combos[i % len(combos)], side, side, rng) for i in range(n)]
    lr = to_uint8(downscale(to_tensor(hr)))
    return np.stack(hr), lr


def measure(upscale, hr, lr):
    """Mean PSNR (dB) over the held-out images of `upscale` (uint8 NHWC -> uint8 NHWC at 2x)."""
    out = upscale(lr)
    return float(np.mean([psnr(o, h) for o, h in zip(out, hr)]))


def pillow(method):
    def run(lr):
        return np.stack([np.asarray(Image.fromarray(x).resize((x.shape[1] * SCALE, x.shape[0] * SCALE), method))
                         for x in lr])
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(REPO, "models", "shapes-demo", "upscaler"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = {"seed": 77, "steps": args.steps, "batch": 16, "lr": 2e-3, "warmup": 100, "lr_patch": 48,
           "checkpoint_every_s": 120}
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    held = set(holdout_combos())
    combos = [c for c in ALL_COMBOS if c not in held]
    model = Upscaler()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    path = os.path.join(CHECKPOINT_DIR, "upscaler.pt")
    step, cpu_s = 0, 0.0
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, cpu_s = ck["step"], ck["cpu_s"]
        torch.set_rng_state(ck["rng"]["torch"])
        rng.bit_generator.state = ck["rng"]["numpy"]
        log(f"upscaler: resumed at step {step}")
    os.makedirs(CHECKPOINT_DIR, exist_ok=True)
    t_cpu, last_save = time.process_time(), time.time()

    def checkpoint():
        save(path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "cpu_s": cpu_s + time.process_time() - t_cpu, "cfg": cfg,
                    "rng": {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}})

    hr_side = cfg["lr_patch"] * SCALE
    loss_avg = None
    while step < cfg["steps"]:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg["lr"], cfg["warmup"], cfg["steps"])
        # Whole small images (the shape's edges and the image border are both in every patch).
        hr = to_tensor([render_smooth(combos[rng.integers(len(combos))], hr_side, hr_side, rng)
                        for _ in range(cfg["batch"])])
        lr = downscale(hr).mul(255).round().div(255)
        out = model(lr)
        loss = F.l1_loss(out, hr) + F.mse_loss(out, hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if step % 100 == 0:
            log(f"upscaler step {step}/{cfg['steps']} loss {loss_avg:.5f}")
        if time.time() - last_save > cfg["checkpoint_every_s"] or step == cfg["steps"]:
            checkpoint()
            last_save = time.time()
    cpu_total = cpu_s + time.process_time() - t_cpu
    model.eval()

    onnx_path = os.path.join(args.out, "model.onnx")
    probe = torch.rand(1, 3, 32, 40)
    export_graph(model, (probe,), onnx_path, ["image"], ["upscaled"],
                 {"image": {0: "batch", 2: "height", 3: "width"},
                  "upscaled": {0: "batch", 2: "upscaled_height", 3: "upscaled_width"}})
    sess = session(onnx_path)
    worst = 0.0
    for shape in [(1, 3, 32, 40), (2, 3, 128, 128), (1, 3, 64, 96), (1, 3, 300, 17)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(None, {"image": x.numpy()})[0]
        assert got.shape == ref.shape, (got.shape, ref.shape)
        worst = max(worst, float(np.abs(got - ref).max()))
    assert worst < 1e-4, f"upscaler: onnxruntime differs from torch by {worst}"
    print(f"  upscaler: ok (max |onnx - torch| = {worst:.2e})")

    hr, lr = holdout_set()
    onnx_upscale = lambda x: to_uint8(torch.from_numpy(sess.run(None, {"image": to_tensor(list(x)).numpy()})[0]))
    results = {
        "model": measure(onnx_upscale, hr, lr),
        "lanczos3": measure(pillow(Image.Resampling.LANCZOS), hr, lr),
        "bicubic": measure(pillow(Image.Resampling.BICUBIC), hr, lr),
    }
    print("held-out PSNR (dB), 64 images 128 -> 256:", {k: round(v, 2) for k, v in results.items()})
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"scale": SCALE}, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "training_info.json"), "w", encoding="utf-8") as f:
        json.dump({"steps": step, "train_cpu_seconds": round(cpu_total), "parameters":
                   sum(p.numel() for p in model.parameters()), "config": cfg,
                   "holdout_psnr_db": {k: round(v, 2) for k, v in results.items()},
                   "holdout": "64 renderings (256x256, antialiased) of the 19 held-out combos, box-downscaled to 128x128"},
                  f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
