"""Fine-tune the text encoder + UNet of the shapes demo model on several sizes and
aspect ratios (latents 8..32 per side, multiples of 4: the UNet halves twice), from
the weights recovered by reconstruct.py (checkpoints/unet.pt). Resumable: rerun the
same command and it continues from checkpoints/finetune.pt.

  python3 models/train/reconstruct.py        # once: checkpoints/unet.pt, decoder.pt
  nohup nice -n 5 python3 models/train/finetune.py > models/train/runs/finetune.log 2>&1 &
  python3 models/train/export.py --unet-checkpoint finetune.pt

Every step draws one latent size for its batch: a quarter of the steps keep the
native 16x16 (so 128x128 stays as good), the others cover 24x16, 16x24 and 32x32
and any other size from 8 to 32 per side. The batch holds about as many latent
pixels as 64 images at 16x16, so a step costs about the same at every size.
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import TOKENIZER_DIR, ClipBpe, FixedEncoder, TextEncoder, UNet, alphas_cumprod, build_id_map  # noqa: E402
from train import CHECKPOINT_DIR, Data, load_states, log, lr_at, noise_prediction_step, restore_rng, rng_state, save  # noqa: E402

SIZE_PHASE_2 = 316
SIZE_PHASE_3 = 650
SIZE_PHASE_4 = 950
DEFAULTS = {
    "seed": 4321, "steps": 1250, "lr": 3e-4, "warmup": 50, "ema": 0.995, "pixels_per_batch": 64 * 16 * 16,
    "min_batch": 12, "max_batch": 64, "caption_dropout": 0.12, "min_snr_gamma": 5.0, "checkpoint_every_s": 180,
    # From each start step on, the mix of sizes: (probability, latent height, latent width); None = any
    # multiple of 4 in 8..32 per side. At 32x32 the first mix kept drawing two shapes: the second has more of it,
    # and the third (steps 650-950, run after measuring step 650: 71% shapes at 256x256) and the fourth
    # (950-1250, after step 950: 79%) more still.
    "size_phases": [
        [0, [[0.25, 16, 16], [0.15, 16, 24], [0.15, 24, 16], [0.15, 32, 32], [0.30, None, None]]],
        [SIZE_PHASE_2, [[0.20, 16, 16], [0.10, 16, 24], [0.10, 24, 16], [0.35, 32, 32], [0.25, None, None]]],
        [SIZE_PHASE_3, [[0.20, 16, 16], [0.10, 16, 24], [0.10, 24, 16], [0.50, 32, 32], [0.10, None, None]]],
        [SIZE_PHASE_4, [[0.20, 16, 16], [0.05, 16, 24], [0.05, 24, 16], [0.60, 32, 32], [0.10, None, None]]],
    ],
}
SIDES = list(range(8, 33, 4))


def draw_size(rng, phases, step):
    sizes = [mix for start, mix in phases if start <= step][-1]
    probs = np.array([s[0] for s in sizes], dtype=np.float64)
    _, h, w = sizes[rng.choice(len(sizes), p=probs / probs.sum())]
    if h is None:
        h, w = int(rng.choice(SIDES)), int(rng.choice(SIDES))
    return h, w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = dict(DEFAULTS, steps=args.steps)
    torch.set_num_threads(args.threads)
    path = os.path.join(CHECKPOINT_DIR, "finetune.pt")
    base = torch.load(os.path.join(CHECKPOINT_DIR, "unet.pt"), weights_only=False)
    base_cfg = base["cfg"]
    token_ids = base["token_ids"]
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    bpe = ClipBpe(TOKENIZER_DIR)
    data = Data(rng, bpe, cfg["caption_dropout"])
    text = TextEncoder(build_id_map(token_ids), len(token_ids), dim=base_cfg["text_dim"], layers=base_cfg["text_layers"])
    unet = UNet(base_cfg["unet_ch"], context_dim=base_cfg["text_dim"])
    text.load_state_dict(base["ema_text"])
    unet.load_state_dict(base["ema_unet"])
    ema_text, ema_unet = copy.deepcopy(text), copy.deepcopy(unet)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=0.01)
    step, cpu_s = 0, 0.0
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        load_states(ck, text=text, unet=unet, ema_text=ema_text, ema_unet=ema_unet, opt=opt)
        step, cpu_s = ck["finetune_step"], ck["finetune_cpu_s"]
        restore_rng(rng, ck["rng"])
        log(f"finetune: resumed at step {step}")
    encoder = FixedEncoder(base["latent_mean"], base["latent_std"])
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    loss_weight = torch.clamp(snr, max=cfg["min_snr_gamma"]) / snr
    ema_pairs = [(p_ema, p) for m_ema, m in ((ema_text, text), (ema_unet, unet))
                 for p_ema, p in zip(m_ema.parameters(), m.parameters())]
    total = cfg["steps"]
    last_save, t_cpu, t_wall = time.time(), time.process_time(), time.time()

    def checkpoint():
        # The layout of train.py's unet.pt (export.py reads either), plus the fine-tune's own counters.
        save(path, {"text": text.state_dict(), "unet": unet.state_dict(), "ema_text": ema_text.state_dict(),
                    "ema_unet": ema_unet.state_dict(), "opt": opt.state_dict(), "step": base["step"],
                    "cpu_s": base["cpu_s"], "finetune_step": step,
                    "finetune_cpu_s": cpu_s + time.process_time() - t_cpu, "rng": rng_state(rng),
                    "cfg": base_cfg, "finetune_cfg": cfg, "token_ids": token_ids,
                    "latent_mean": base["latent_mean"], "latent_std": base["latent_std"]})

    loss_avg = None
    while step < total:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg["lr"], cfg["warmup"], total)
        h, w = draw_size(rng, cfg["size_phases"], step)
        n = int(np.clip(round(cfg["pixels_per_batch"] / (h * w)), cfg["min_batch"], cfg["max_batch"]))
        x, ids = data.batch(n, width=8 * w, height=8 * h)
        loss = noise_prediction_step(encoder, text, unet, x, ids, ac, loss_weight, opt, params)
        step += 1
        with torch.no_grad():
            for p_ema, p in ema_pairs:
                p_ema.lerp_(p, 1 - cfg["ema"])
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if step % 25 == 0:
            log(f"finetune step {step}/{total} loss {loss_avg:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"last {h}x{w} b{n} {(time.time() - t_wall) / 25:.2f}s/step")
            t_wall = time.time()
        if time.time() - last_save > cfg["checkpoint_every_s"] or step == total:
            checkpoint()
            last_save = time.time()
    log(f"finetune: done, {cpu_s + time.process_time() - t_cpu:.0f} CPU-seconds")


if __name__ == "__main__":
    main()
