"""Train the shapes demo model on CPU (PyTorch). Resumable: rerun the same
command and it continues from models/train/checkpoints/.

  python3 models/train/train.py                 # decoder, then text encoder + UNet
  python3 models/train/train.py --part decoder  # only the VAE decoder
  python3 models/train/train.py --part unet     # only text encoder + UNet
"""
import argparse
import copy
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import (  # noqa: E402
    ALL_COMBOS, HERE, IMAGE_SIZE, SCALING_FACTOR, TOKENIZER_DIR, TEMPLATES, ClipBpe, Decoder, FixedEncoder, TextEncoder,
    UNet, alphas_cumprod, build_id_map, holdout_combos, known_token_ids, random_layout, render, to_unit,
)

CHECKPOINT_DIR = os.path.join(HERE, "checkpoints")
DEFAULTS = {
    "seed": 1234,
    "unet_ch": 48, "text_dim": 64, "text_layers": 2,
    "unet_steps": 5000, "unet_batch": 64, "unet_lr": 1e-3, "warmup": 300, "ema": 0.999, "caption_dropout": 0.12,
    "min_snr_gamma": 5.0,
    "decoder_steps": 2000, "decoder_batch": 32, "decoder_lr": 2e-3, "decoder_noise": 0.15,
    "checkpoint_every_s": 180,
}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


class Data:
    """Random training examples from the non-held-out combos."""

    def __init__(self, rng, bpe, caption_dropout):
        held = set(holdout_combos())
        self.combos = [c for c in ALL_COMBOS if c not in held]
        self.rng = rng
        self.bpe = bpe
        self.caption_dropout = caption_dropout
        self.empty_ids = bpe.encode("")

    def batch(self, n, width=IMAGE_SIZE, height=IMAGE_SIZE):
        imgs, ids = [], []
        for _ in range(n):
            c, s, b = self.combos[self.rng.integers(len(self.combos))]
            imgs.append(render(c, s, b, *random_layout(self.rng, width, height), width, height))
            if self.rng.random() < self.caption_dropout:
                ids.append(self.empty_ids)
            else:
                ids.append(self.bpe.encode(TEMPLATES[self.rng.integers(len(TEMPLATES))].format(c=c, s=s, b=b)))
        return to_unit(np.stack(imgs)), torch.tensor(ids, dtype=torch.int64)


def latent_stats():
    """Per-channel mean/std of the pooled encoder features over a fixed sample."""
    rng = np.random.default_rng(0)
    imgs = []
    for _ in range(2048):
        c, s, b = ALL_COMBOS[rng.integers(len(ALL_COMBOS))]
        imgs.append(render(c, s, b, *random_layout(rng)))
    p = FixedEncoder.pooled(to_unit(np.stack(imgs)))
    return p.mean(dim=(0, 2, 3)), p.std(dim=(0, 2, 3))


def lr_at(step, base, warmup, total):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_states(ck, **parts):
    """Restores each model or optimiser from the checkpoint entry of its name."""
    for name, part in parts.items():
        part.load_state_dict(ck[name])


def noise_prediction_step(encoder, text, unet, x, ids, ac, loss_weight, opt, params):
    """One optimiser step of epsilon prediction on a batch of images: noise at random timesteps,
    min-SNR-weighted squared error, gradients clipped to norm 1. Returns the loss."""
    with torch.no_grad():
        z0 = encoder(x) * SCALING_FACTOR
    t = torch.randint(0, 1000, (z0.shape[0],))
    a = ac[t].view(-1, 1, 1, 1)
    eps = torch.randn_like(z0)
    zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
    pred = unet(zt, t.float(), text(ids))
    loss = ((pred - eps) ** 2).mean(dim=(1, 2, 3)).mul(loss_weight[t]).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss


def rng_state(rng):
    return {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}


def restore_rng(rng, state):
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = state["numpy"]


def train_decoder(cfg, encoder, bpe):
    path = os.path.join(CHECKPOINT_DIR, "decoder.pt")
    torch.manual_seed(cfg["seed"] + 1)
    rng = np.random.default_rng(cfg["seed"] + 1)
    data = Data(rng, bpe, 0.0)
    dec = Decoder()
    opt = torch.optim.AdamW(dec.parameters(), lr=cfg["decoder_lr"], weight_decay=0.0)
    step, cpu_s = 0, 0.0
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        dec.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["opt"])
        step, cpu_s = ck["step"], ck["cpu_s"]
        restore_rng(rng, ck["rng"])
        log(f"decoder: resumed at step {step}")
    total = cfg["decoder_steps"]
    last_save, t_cpu = time.time(), time.process_time()

    def checkpoint():
        nonlocal t_cpu
        now = time.process_time()
        save(path, {"decoder": dec.state_dict(), "opt": opt.state_dict(), "step": step, "cpu_s": cpu_s + now - t_cpu,
                    "rng": rng_state(rng), "cfg": cfg})

    while step < total:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg["decoder_lr"], 100, total)
        x, _ = data.batch(cfg["decoder_batch"])
        z = encoder(x) * SCALING_FACTOR
        # Noise augmentation: the UNet's latents are never exact, the decoder should snap them to clean shapes.
        sigma = torch.rand(z.shape[0], 1, 1, 1) * cfg["decoder_noise"]
        z = z + sigma * torch.randn_like(z)
        y = dec(z / SCALING_FACTOR)
        loss = F.l1_loss(y, x) + F.mse_loss(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(f"decoder step {step}/{total} loss {loss.item():.4f}")
        if time.time() - last_save > cfg["checkpoint_every_s"] or step == total:
            checkpoint()
            last_save = time.time()
    log("decoder: done")


def train_unet(cfg, bpe):
    path = os.path.join(CHECKPOINT_DIR, "unet.pt")
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    data = Data(rng, bpe, cfg["caption_dropout"])
    token_ids = known_token_ids(bpe)
    text = TextEncoder(build_id_map(token_ids), len(token_ids), dim=cfg["text_dim"], layers=cfg["text_layers"])
    unet = UNet(cfg["unet_ch"], context_dim=cfg["text_dim"])
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=cfg["unet_lr"], weight_decay=0.01)
    ema_text, ema_unet = copy.deepcopy(text), copy.deepcopy(unet)
    step, cpu_s = 0, 0.0
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        load_states(ck, text=text, unet=unet, ema_text=ema_text, ema_unet=ema_unet, opt=opt)
        step, cpu_s = ck["step"], ck["cpu_s"]
        restore_rng(rng, ck["rng"])
        log(f"unet: resumed at step {step}")
    encoder = FixedEncoder(*latent_stats())
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    loss_weight = torch.clamp(snr, max=cfg["min_snr_gamma"]) / snr
    total = cfg["unet_steps"]
    ema_pairs = [(p_ema, p) for m_ema, m in ((ema_text, text), (ema_unet, unet))
                 for p_ema, p in zip(m_ema.parameters(), m.parameters())]
    last_save, t_cpu, t_wall = time.time(), time.process_time(), time.time()
    print(f"unet params {sum(p.numel() for p in unet.parameters())}, text params {sum(p.numel() for p in text.parameters())}", flush=True)

    def checkpoint():
        save(path, {"text": text.state_dict(), "unet": unet.state_dict(), "ema_text": ema_text.state_dict(),
                    "ema_unet": ema_unet.state_dict(), "opt": opt.state_dict(), "step": step,
                    "cpu_s": cpu_s + time.process_time() - t_cpu, "rng": rng_state(rng), "cfg": cfg,
                    "token_ids": token_ids, "latent_mean": encoder.mean.flatten(), "latent_std": encoder.std.flatten()})

    loss_avg = None
    while step < total:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg["unet_lr"], cfg["warmup"], total)
        x, ids = data.batch(cfg["unet_batch"])
        loss = noise_prediction_step(encoder, text, unet, x, ids, ac, loss_weight, opt, params)
        step += 1
        decay = min(cfg["ema"], (1 + step) / (10 + step))
        with torch.no_grad():
            for p_ema, p in ema_pairs:
                p_ema.lerp_(p, 1 - decay)
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if step % 50 == 0:
            log(f"unet step {step}/{total} loss {loss_avg:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{(time.time() - t_wall) / 50:.2f}s/step")
            t_wall = time.time()
        if time.time() - last_save > cfg["checkpoint_every_s"] or step == total:
            checkpoint()
            last_save = time.time()
    log("unet: done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["all", "decoder", "unet"], default="all")
    ap.add_argument("--unet-steps", type=int, default=DEFAULTS["unet_steps"])
    ap.add_argument("--decoder-steps", type=int, default=DEFAULTS["decoder_steps"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="EMA decay of the weights")
    args = ap.parse_args()
    cfg = dict(DEFAULTS, unet_steps=args.unet_steps, decoder_steps=args.decoder_steps, ema=args.ema)
    torch.set_num_threads(args.threads)
    os.makedirs(CHECKPOINT_DIR, exist_ok=True)
    bpe = ClipBpe(TOKENIZER_DIR)
    if args.part in ("all", "decoder"):
        train_decoder(cfg, FixedEncoder(*latent_stats()), bpe)
    if args.part in ("all", "unet"):
        train_unet(cfg, bpe)


if __name__ == "__main__":
    main()
