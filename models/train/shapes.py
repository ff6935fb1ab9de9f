"""Shared definitions for the shapes demo model: palette, prompts, renderer,
CLIP BPE tokenizer (for the few words we use), fixed latent encoder and the
networks (text encoder, conditional UNet, VAE decoder)."""
import json
import math
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# The real CLIP BPE files (committed with the model; copied from /work/shared/vectors/tokenizer/).
TOKENIZER_DIR = os.path.join(REPO, "models", "shapes-demo", "tokenizer")

IMAGE_SIZE = 128
LATENT_SIZE = 16
LATENT_CHANNELS = 4
SCALING_FACTOR = 0.18215
MAX_LENGTH = 77
BOS_ID = 49406
EOS_ID = 49407
CLIP_VOCAB_SIZE = 49408

PALETTE = {
    "red": (230, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 80, 230),
    "yellow": (250, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "purple": (140, 50, 190),
    "orange": (250, 140, 20),
}
COLOURS = list(PALETTE)
SHAPES = ["circle", "square", "triangle"]
# Paraphrases of the caption; the first one is the canonical prompt.
TEMPLATES = [
    "a {c} {s} on a {b} background",
    "{c} {s}, {b} background",
    "a {b} background with a {c} {s}",
    "a {c} {s} on {b}",
    "{c} {s} on a {b} background",
]
EXTRA_WORDS = ["a", "an", "the", "on", "with", "background", ",", "in", "of", "and", "shape"]

ALL_COMBOS = [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def holdout_combos():
    """Fixed, deterministic list of held-out (colour, shape, background) combos:
    every 9th combo of the canonical ordering (19 of 168, 11.3%), so each colour,
    shape and background still appears in training."""
    return [ALL_COMBOS[i] for i in range(4, len(ALL_COMBOS), 9)]


def canonical_prompt(c, s, b):
    return TEMPLATES[0].format(c=c, s=s, b=b)


# ---------------------------------------------------------------- tokenizer

def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipBpe:
    """Minimal CLIP BPE, exact for lowercase ASCII prompts (what the demo uses)."""

    PATTERN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")

    def __init__(self, tokenizer_dir):
        with open(os.path.join(tokenizer_dir, "vocab.json"), encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(os.path.join(tokenizer_dir, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")[1:]
        merges = [tuple(l.split()) for l in lines if l.strip()]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.cache = {}

    def _bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text):
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for tok in self.PATTERN.findall(text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.vocab[p] for p in self._bpe(tok))
        ids = [BOS_ID] + ids[: MAX_LENGTH - 2] + [EOS_ID]
        return ids + [EOS_ID] * (MAX_LENGTH - len(ids))


def known_token_ids(bpe):
    """CLIP ids of every token the demo prompts can produce (ordered, stable)."""
    words = COLOURS + SHAPES + EXTRA_WORDS + [w + "s" for w in SHAPES]
    ids = {BOS_ID, EOS_ID}
    for w in words:
        ids.update(bpe.encode(w)[1:-1])
    ids.discard(EOS_ID)
    return [BOS_ID, EOS_ID] + sorted(ids - {BOS_ID})


def build_id_map(token_ids):
    """CLIP id -> small vocabulary index; 0 is 'unknown'."""
    id_map = np.zeros(CLIP_VOCAB_SIZE, dtype=np.int64)
    for i, t in enumerate(token_ids):
        id_map[t] = i + 1
    return id_map


# ---------------------------------------------------------------- renderer

def render(colour, shape, background, size, x0, y0, width=IMAGE_SIZE, height=IMAGE_SIZE):
    """One shape on a plain background as uint8 HxWx3 (height x width). size, x0, y0 in pixels
    (bounding box side and top-left corner)."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = PALETTE[background]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    u = (xx - x0) / size
    v = (yy - y0) / size
    if shape == "circle":
        mask = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    elif shape == "square":
        mask = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    else:  # upward triangle, apex at top centre, base at the bottom edge of the box
        mask = (v >= 0) & (v < 1) & (np.abs(u - 0.5) <= v / 2)
    img[mask] = PALETTE[colour]
    return img


def random_layout(rng, width=IMAGE_SIZE, height=IMAGE_SIZE):
    """Shape side 30-90% of the shorter image side, position fully inside."""
    size = rng.uniform(0.3, 0.9) * min(width, height)
    x0 = rng.uniform(0, width - size)
    y0 = rng.uniform(0, height - size)
    return size, x0, y0


def to_unit(img_uint8):
    """uint8 NHWC -> float32 NCHW in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(img_uint8)).float().div(127.5).sub(1.0)
    return x.permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------- latent encoder (fixed)

class FixedEncoder(nn.Module):
    """Image [-1,1] -> VAE-space latent (UNet latents = SCALING_FACTOR * output).
    Channels 0-2: 8x8 block means of R, G, B; channel 3: block mean of the
    luminance. Each channel is standardised with fixed statistics so that the
    UNet-space latents have unit variance."""

    def __init__(self, mean=None, std=None):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, LATENT_CHANNELS, 1, 1) if mean is None else mean.view(1, -1, 1, 1))
        self.register_buffer("std", torch.ones(1, LATENT_CHANNELS, 1, 1) if std is None else std.view(1, -1, 1, 1))

    @staticmethod
    def pooled(x):
        p = F.avg_pool2d(x, 8)
        lum = 0.299 * p[:, 0:1] + 0.587 * p[:, 1:2] + 0.114 * p[:, 2:3]
        return torch.cat([p, lum], dim=1)

    def forward(self, x):
        return (self.pooled(x) - self.mean) / (self.std * SCALING_FACTOR)


# ---------------------------------------------------------------- networks

class Attention(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, context):
        b, n, c = x.shape
        m = context.shape[1]
        h = self.heads
        d = c // h
        q = self.q(x).reshape(b, n, h, d).transpose(1, 2)
        k = self.k(context).reshape(b, m, h, d).transpose(1, 2)
        v = self.v(context).reshape(b, m, h, d).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * (d ** -0.5), dim=-1)
        out = torch.matmul(att, v).transpose(1, 2).reshape(b, n, c)
        return self.o(out)


class TextEncoder(nn.Module):
    def __init__(self, id_map, vocab_size, dim=64, layers=2, heads=4):
        super().__init__()
        self.register_buffer("id_map", torch.as_tensor(id_map, dtype=torch.long))
        self.tok = nn.Embedding(vocab_size + 1, dim)
        # Word order decides which colour is the shape's and which the background's; a local (3-token)
        # convolution hands every word its neighbours ("blue" + "background") so the roles are easy to learn.
        self.local = nn.Conv1d(dim, dim, 3, padding=1)
        self.pos = nn.Parameter(torch.randn(1, MAX_LENGTH, dim) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(dim), "attn": Attention(dim, dim, heads),
                "ln2": nn.LayerNorm(dim), "ff": nn.Sequential(nn.Linear(dim, dim * 4), nn.SiLU(), nn.Linear(dim * 4, dim)),
            }))
        self.ln = nn.LayerNorm(dim)

    def forward(self, input_ids):
        e = self.tok(self.id_map[input_ids.long()])
        x = e + self.local(e.transpose(1, 2)).transpose(1, 2) + self.pos
        for blk in self.blocks:
            h = blk["ln1"](x)
            x = x + blk["attn"](h, h)
            x = x + blk["ff"](blk["ln2"](x))
        return self.ln(x)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.emb(emb).unsqueeze(2).unsqueeze(3)
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class SpatialTransformer(nn.Module):
    """Cross-attention to the text states (and optional self-attention), as in SD."""

    def __init__(self, ch, context_dim, heads, self_attn):
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.self_attn = Attention(ch, ch, heads) if self_attn else None
        self.ln1 = nn.LayerNorm(ch) if self_attn else None
        self.ln2 = nn.LayerNorm(ch)
        self.cross = Attention(ch, context_dim, heads)
        self.ln3 = nn.LayerNorm(ch)
        self.ff = nn.Sequential(nn.Linear(ch, ch * 2), nn.SiLU(), nn.Linear(ch * 2, ch))
        self.proj_out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).reshape(b, c, hh * ww).transpose(1, 2)
        if self.self_attn is not None:
            y = self.ln1(h)
            h = h + self.self_attn(y, y)
        h = h + self.cross(self.ln2(h), context)
        h = h + self.ff(self.ln3(h))
        h = h.transpose(1, 2).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class UNet(nn.Module):
    def __init__(self, ch=32, context_dim=64, heads=4):
        super().__init__()
        c0, c1, c2 = ch, ch * 2, ch * 2
        emb = ch * 4
        self.ch = ch
        self.time = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.text_pool = nn.Linear(context_dim, emb)
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, c0, 3, padding=1)
        self.d0 = ResBlock(c0, c0, emb)
        self.a0 = SpatialTransformer(c0, context_dim, heads, self_attn=False)
        self.ds0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.d1 = ResBlock(c0, c1, emb)
        self.a1 = SpatialTransformer(c1, context_dim, heads, self_attn=True)
        self.ds1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.m0 = ResBlock(c1, c2, emb)
        self.am = SpatialTransformer(c2, context_dim, heads, self_attn=True)
        self.m1 = ResBlock(c2, c2, emb)
        self.us1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.u1 = ResBlock(c1 + c1, c1, emb)
        self.au1 = SpatialTransformer(c1, context_dim, heads, self_attn=True)
        self.us0 = nn.Conv2d(c1, c0, 3, padding=1)
        self.u0 = ResBlock(c0 + c0, c0, emb)
        self.au0 = SpatialTransformer(c0, context_dim, heads, self_attn=False)
        self.out_norm = nn.GroupNorm(8, c0)
        self.conv_out = nn.Conv2d(c0, LATENT_CHANNELS, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states
        # timestep is [1] (whole batch) or [B]; broadcasting handles both.
        emb = self.time(timestep_embedding(timestep, self.ch)) + self.text_pool(ctx.mean(dim=1))
        emb = F.silu(emb)
        h0 = self.a0(self.d0(self.conv_in(sample), emb), ctx)
        h1 = self.a1(self.d1(self.ds0(h0), emb), ctx)
        h = self.m1(self.am(self.m0(self.ds1(h1), emb), ctx), emb)
        h = self.us1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.au1(self.u1(torch.cat([h, h1], dim=1), emb), ctx)
        h = self.us0(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.au0(self.u0(torch.cat([h, h0], dim=1), emb), ctx)
        return self.conv_out(F.silu(self.out_norm(h)))


class Decoder(nn.Module):
    """VAE-space latent [B,4,16,16] -> image [B,3,128,128] in [-1,1]; upsamples
    x8 in three pixel-shuffle stages so most compute stays at low resolution."""

    def __init__(self, ch=64):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, ch, 3, padding=1)
        self.body = nn.Sequential(
            nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
            nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
        )
        self.up1 = nn.Conv2d(ch, 32 * 4, 3, padding=1)   # -> 32x32x32
        self.c1 = nn.Conv2d(32, 32, 3, padding=1)
        self.up2 = nn.Conv2d(32, 16 * 4, 3, padding=1)   # -> 64x64x16
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.up3 = nn.Conv2d(16, 8 * 4, 3, padding=1)    # -> 128x128x8
        self.out = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = h + self.body(h)
        h = F.silu(F.pixel_shuffle(self.up1(h), 2))
        h = F.silu(self.c1(h))
        h = F.silu(F.pixel_shuffle(self.up2(h), 2))
        h = F.silu(self.c2(h))
        h = F.silu(F.pixel_shuffle(self.up3(h), 2))
        return torch.tanh(self.out(h))


# ---------------------------------------------------------------- diffusion schedule

def alphas_cumprod():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()
