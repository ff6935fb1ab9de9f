"""Evaluate an exported shapes-demo folder with onnxruntime: deterministic
20-step sampling with classifier-free guidance, then the automatic checker
(background colour, shape colour, shape kind). Also times the pipeline.

  python3 models/train/evaluate.py [--model models/shapes-demo] [--guidance 5] [--sampler euler|ddim]
                                   [--size 128x128 192x128 128x192 256x256]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import ALL_COMBOS, PALETTE, REPO, SCALING_FACTOR, ClipBpe, canonical_prompt, holdout_combos  # noqa: E402

COLOUR_NAMES = list(PALETTE)
COLOUR_VALUES = np.array([PALETTE[c] for c in COLOUR_NAMES], dtype=np.float32)
FILL_RATIOS = {"triangle": 0.5, "circle": 0.785, "square": 1.0}


# ---------------------------------------------------------------- checker

def nearest_colour_index(pixels):
    d = ((pixels[:, None, :].astype(np.float32) - COLOUR_VALUES[None]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def check_image(img):
    """uint8 HxWx3 -> {background, colour, shape, fill}. Background: majority nearest palette colour of the
    border pixels; shape colour: majority nearest palette colour of the pixels whose nearest colour is not the
    background; shape: fill ratio of those pixels' bounding box, nearest of the ideal ratios."""
    h, w, _ = img.shape
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg = np.bincount(nearest_colour_index(border), minlength=len(COLOUR_NAMES)).argmax()
    labels = nearest_colour_index(img.reshape(-1, 3)).reshape(h, w)
    fg = labels != bg
    if fg.sum() < 16:
        return {"background": COLOUR_NAMES[bg], "colour": None, "shape": None, "fill": 0.0}
    colour = np.bincount(labels[fg], minlength=len(COLOUR_NAMES)).argmax()
    mask = labels == colour
    ys, xs = np.nonzero(mask)
    area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = float(mask.sum() / area)
    shape = min(FILL_RATIOS, key=lambda s: abs(FILL_RATIOS[s] - fill))
    return {"background": COLOUR_NAMES[bg], "colour": COLOUR_NAMES[colour], "shape": shape, "fill": fill}


# ---------------------------------------------------------------- pipeline (numpy + onnxruntime)

def alphas_cumprod():
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas).astype(np.float32)


def leading_timesteps(steps, offset=1):
    ratio = 1000 // steps
    return (np.arange(steps) * ratio).round()[::-1].astype(np.int64) + offset


class Pipeline:
    def __init__(self, model_dir, threads=2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        load = lambda part: ort.InferenceSession(os.path.join(model_dir, part, "model.onnx"), so,
                                                 providers=["CPUExecutionProvider"])
        self.text_encoder, self.unet, self.vae_decoder = load("text_encoder"), load("unet"), load("vae_decoder")
        self.bpe = ClipBpe(os.path.join(model_dir, "tokenizer"))
        self.ac = alphas_cumprod()
        self.onnx_s = 0.0

    def _run(self, sess, feed):
        t = time.perf_counter()
        out = sess.run(None, feed)[0]
        self.onnx_s += time.perf_counter() - t
        return out

    def __call__(self, prompts, seeds, guidance, steps=20, sampler="euler", width=128, height=128):
        n = len(prompts)
        ids = np.array([self.bpe.encode("")] * n + [self.bpe.encode(p) for p in prompts], dtype=np.int32)
        states = self._run(self.text_encoder, {"input_ids": ids})
        latents = np.stack([np.random.RandomState(s).standard_normal((4, height // 8, width // 8)) for s in seeds]).astype(np.float32)
        ts = leading_timesteps(steps)
        ac = self.ac
        sigmas = np.sqrt((1 - ac) / ac)
        if sampler == "euler":
            sig = np.append(sigmas[ts], 0.0).astype(np.float32)
            latents = latents * np.sqrt(sig[0] ** 2 + 1)
        for i, t in enumerate(ts):
            x_in = latents / np.sqrt(sig[i] ** 2 + 1) if sampler == "euler" else latents
            eps = self._run(self.unet, {"sample": np.concatenate([x_in, x_in]).astype(np.float32),
                                        "timestep": np.array([t], np.float32), "encoder_hidden_states": states})
            eps = eps[:n] + guidance * (eps[n:] - eps[:n])
            if sampler == "euler":
                latents = latents + (sig[i + 1] - sig[i]) * eps
            else:  # DDIM, eta 0, set_alpha_to_one false
                prev = t - 1000 // steps
                a, a_prev = ac[t], ac[prev] if prev >= 0 else ac[0]
                x0 = (latents - np.sqrt(1 - a) * eps) / np.sqrt(a)
                latents = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps
        img = self._run(self.vae_decoder, {"latent_sample": (latents / SCALING_FACTOR).astype(np.float32)})
        return ((np.clip(img, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)


def evaluate(pipe, guidance, sampler, seeds_per_combo, batch=8, width=128, height=128, every=1):
    held = set(holdout_combos())
    jobs = [(c, seed) for c in ALL_COMBOS[::every] for seed in range(seeds_per_combo)]
    results = {"train": [], "holdout": []}
    for k in range(0, len(jobs), batch):
        chunk = jobs[k:k + batch]
        imgs = pipe([canonical_prompt(*c) for c, _ in chunk], [1000 + 17 * i + s for i, (_, s) in
                                                                  enumerate(chunk, start=k)], guidance, sampler=sampler,
                    width=width, height=height)
        for (c, _), img in zip(chunk, imgs):
            got = check_image(img)
            results["holdout" if c in held else "train"].append(
                (got["background"] == c[2], got["colour"] == c[0], got["shape"] == c[1]))
    summary = {}
    for split in ("train", "holdout"):
        r = np.array(results[split], dtype=np.float64)
        summary[split] = {"n": len(r), "background": r[:, 0].mean(), "colour": r[:, 1].mean(), "shape": r[:, 2].mean(),
                          "all": r.all(axis=1).mean()}
    allr = np.array(results["train"] + results["holdout"], dtype=np.float64)
    summary["all"] = {"n": len(allr), "background": allr[:, 0].mean(), "colour": allr[:, 1].mean(),
                      "shape": allr[:, 2].mean(), "all": allr.all(axis=1).mean()}
    return summary


def time_pipeline(pipe, guidance, repeats=3):
    """4 images, 20 steps, CFG (UNet batch 8): wall time and per-component times."""
    prompts = [canonical_prompt(*ALL_COMBOS[i]) for i in (0, 40, 80, 120)]
    pipe(prompts, [1, 2, 3, 4], guidance)  # warm-up
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        pipe(prompts, [1, 2, 3, 4], guidance)
        walls.append(time.perf_counter() - t)
    feed = {"sample": np.zeros((8, 4, 16, 16), np.float32), "timestep": np.array([500.0], np.float32),
            "encoder_hidden_states": np.zeros((8, 77, pipe.unet.get_inputs()[2].shape[2]), np.float32)}
    t = time.perf_counter()
    for _ in range(20):
        pipe.unet.run(None, feed)
    unet_ms = (time.perf_counter() - t) / 20 * 1000
    return {"four_images_20_steps_s": min(walls), "unet_batch8_ms": unet_ms}


GRID_PROMPTS = [
    "a red circle on a blue background",
    "a yellow triangle on a black background",
    "a white square on a purple background",
    "green circle, orange background",
    "a green background with a red triangle",
]


def save_grid(pipe, guidance, sampler, path, seeds=(1, 2, 3, 4)):
    """One row per prompt (GRID_PROMPTS, then the first held-out combo), one column per seed."""
    from PIL import Image

    prompts = GRID_PROMPTS + [canonical_prompt(*holdout_combos()[0])]
    rows = [np.concatenate(list(pipe([p] * len(seeds), list(seeds), guidance, sampler=sampler)), axis=1)
            for p in prompts]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)
    return prompts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(REPO, "models", "shapes-demo"))
    ap.add_argument("--guidance", type=float, nargs="+", default=[5.0])
    ap.add_argument("--sampler", choices=["euler", "ddim"], nargs="+", default=["euler"])
    ap.add_argument("--seeds", type=int, default=1, help="seeds per combo (168 combos); 0 skips the evaluation")
    ap.add_argument("--size", nargs="+", default=["128x128"], help="WIDTHxHEIGHT in pixels (multiples of 32)")
    ap.add_argument("--every", type=int, default=1, help="only every n-th combo (a quick check)")
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--grid", help="write a PNG grid of samples here (uses the first guidance and sampler)")
    args = ap.parse_args()
    pipe = Pipeline(args.model, args.threads)
    out = {}
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.size]
    runs = [(w, h, sampler, g) for w, h in sizes for sampler in args.sampler for g in args.guidance]
    for width, height, sampler, g in runs if args.seeds > 0 else []:
        s = evaluate(pipe, g, sampler, args.seeds, width=width, height=height, every=args.every)
        out[f"{sampler}@{g}" if sizes == [(128, 128)] else f"{width}x{height} {sampler}@{g}"] = s
        print(f"{width}x{height} {sampler} guidance {g}: " + "; ".join(
            f"{k} n={v['n']} bg {v['background']:.3f} colour {v['colour']:.3f} shape {v['shape']:.3f} "
            f"all {v['all']:.3f}" for k, v in s.items()), flush=True)
    if args.grid:
        print("grid rows:", save_grid(pipe, args.guidance[0], args.sampler[0], args.grid))
    if args.time:
        out["timing"] = time_pipeline(pipe, args.guidance[0])
        print("timing", out["timing"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
