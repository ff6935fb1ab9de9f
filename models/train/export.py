"""Write the whole models/shapes-demo/ folder (diffusers OnnxStableDiffusionPipeline
layout) from the latest checkpoints, verify every graph with onnxruntime against
PyTorch, and fit latent_preview.json.

  python3 models/train/export.py [--out models/shapes-demo] [--scheduler euler|ddim] [--unet-checkpoint finetune.pt]

Height and width are dynamic axes of the UNet and the VAE (any multiple of 32 px: the
VAE's 8 times the UNet's two halvings); every graph is checked at several sizes.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import (  # noqa: E402
    ALL_COMBOS, CLIP_VOCAB_SIZE, IMAGE_SIZE, LATENT_CHANNELS, LATENT_SIZE, MAX_LENGTH, REPO, SCALING_FACTOR,
    TOKENIZER_DIR, ClipBpe, Decoder, FixedEncoder, TextEncoder, UNet, build_id_map, canonical_prompt,
    holdout_combos, random_layout, render, to_unit,
)
from train import CHECKPOINT_DIR  # noqa: E402

OPSET = 17
DIFFUSERS_VERSION = "0.40.0"
SCHEDULERS = {"euler": "EulerDiscreteScheduler", "ddim": "DDIMScheduler"}


class TextEncoderExport(nn.Module):
    """int32 input_ids -> (last_hidden_state, pooler_output at the EOS token, as CLIP)."""

    def __init__(self, text):
        super().__init__()
        self.text = text

    def forward(self, input_ids):
        hidden = self.text(input_ids)
        eos = torch.argmax(input_ids, dim=1)  # EOS (49407) is the largest id; argmax gives its first position
        pooled = hidden[torch.arange(hidden.shape[0]), eos]
        return hidden, pooled


def export_graph(model, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# Latent sizes (height, width) the spatial graphs are checked at: native, both aspect ratios, smallest, largest.
CHECK_SIZES = [(16, 16), (8, 8), (16, 24), (24, 16), (32, 32)]


def worst_diff(model, path, feeds):
    """The largest difference between onnxruntime and PyTorch over the feeds (shapes must match)."""
    sess = session(path)
    worst = 0.0
    for feed in feeds:
        with torch.no_grad():
            ref = model(*[torch.from_numpy(v) for v in feed.values()])
        ref = ref[0] if isinstance(ref, tuple) else ref
        got = sess.run(None, feed)[0]
        assert got.shape == tuple(ref.shape), (path, got.shape, ref.shape)
        worst = max(worst, float(np.abs(got - ref.numpy()).max()))
    return worst


def check(name, model, path, feeds):
    """Compare onnxruntime with PyTorch on the given feeds (batch sizes and spatial sizes)."""
    worst = worst_diff(model, path, feeds)
    assert worst < 1e-3, f"{name}: onnxruntime differs from torch by {worst}"
    print(f"  {name}: ok (max |onnx - torch| = {worst:.2e})")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def load_models(unet_checkpoint="unet.pt"):
    ck = torch.load(os.path.join(CHECKPOINT_DIR, unet_checkpoint), weights_only=False)
    cfg = ck["cfg"]
    token_ids = ck["token_ids"]
    text = TextEncoder(build_id_map(token_ids), len(token_ids), dim=cfg["text_dim"], layers=cfg["text_layers"])
    text.load_state_dict(ck["ema_text"])
    unet = UNet(cfg["unet_ch"], context_dim=cfg["text_dim"])
    unet.load_state_dict(ck["ema_unet"])
    dk = torch.load(os.path.join(CHECKPOINT_DIR, "decoder.pt"), weights_only=False)
    decoder = Decoder()
    decoder.load_state_dict(dk["decoder"])
    encoder = FixedEncoder(ck["latent_mean"], ck["latent_std"])
    for m in (text, unet, decoder, encoder):
        m.eval()
    info = {"unet_step": ck["step"], "decoder_step": dk["step"], "cpu_s": ck["cpu_s"] + dk["cpu_s"], "cfg": cfg,
            "reconstructed_from_onnx": bool(ck.get("reconstructed_from_onnx") or "finetune_step" in ck)}
    if "finetune_step" in ck:
        info["finetune"] = {"steps": ck["finetune_step"], "cpu_seconds": round(ck["finetune_cpu_s"]),
                            "config": ck["finetune_cfg"]}
    return text, unet, decoder, encoder, info


def fit_latent_preview(encoder, decoder):
    """Least squares: UNet-space latent pixel (4) + bias -> mean RGB of its decoded 8x8 block."""
    rng = np.random.default_rng(7)
    imgs = [render(*ALL_COMBOS[rng.integers(len(ALL_COMBOS))], *random_layout(rng)) for _ in range(256)]
    with torch.no_grad():
        z = encoder(to_unit(np.stack(imgs)))
        rgb = torch.nn.functional.avg_pool2d(decoder(z), 8)
    x = (z * SCALING_FACTOR).permute(0, 2, 3, 1).reshape(-1, LATENT_CHANNELS).numpy().astype(np.float64)
    y = rgb.permute(0, 2, 3, 1).reshape(-1, 3).numpy().astype(np.float64)
    a = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    # Channel 3 (luminance) is a linear combination of channels 0-2: cut the near-null singular direction,
    # otherwise the fit uses huge cancelling factors that blow up any inconsistent (mid-denoising) latent.
    coef, *_ = np.linalg.lstsq(a, y, rcond=1e-3)
    rms = float(np.sqrt(((a @ coef - y) ** 2).mean()))
    print(f"  latent_preview: rms error {rms:.4f} (RGB in [-1,1])")
    return {"factors": [[round(float(v), 6) for v in row] for row in coef[:4]],
            "bias": [round(float(v), 6) for v in coef[4]]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "models", "shapes-demo"))
    ap.add_argument("--scheduler", choices=sorted(SCHEDULERS), default="euler")
    ap.add_argument("--unet-checkpoint", default="unet.pt",
                    help="text encoder + UNet checkpoint in models/train/checkpoints/ (finetune.pt after finetune.py)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = args.out
    text, unet, decoder, encoder, info = load_models(args.unet_checkpoint)
    dim = info["cfg"]["text_dim"]
    print(f"exporting unet step {info['unet_step']}, decoder step {info['decoder_step']} -> {out}")
    batch = {0: "batch"}
    latent_axes = {0: "batch", 2: "height", 3: "width"}
    image_axes = {0: "batch", 2: "image_height", 3: "image_width"}

    bpe = ClipBpe(TOKENIZER_DIR)
    ids = np.array([bpe.encode(canonical_prompt(*c)) for c in ALL_COMBOS[:3]], dtype=np.int32)
    rng = np.random.default_rng(0)
    te = TextEncoderExport(text)
    path = os.path.join(out, "text_encoder", "model.onnx")
    export_graph(te, (torch.from_numpy(ids[:1]),), path, ["input_ids"], ["last_hidden_state", "pooler_output"],
                 {"input_ids": batch, "last_hidden_state": batch, "pooler_output": batch})
    check("text_encoder", te, path, [{"input_ids": ids[:1]}, {"input_ids": ids}])

    path = os.path.join(out, "unet", "model.onnx")
    sample = rng.standard_normal((2, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE)).astype(np.float32)
    states = rng.standard_normal((2, MAX_LENGTH, dim)).astype(np.float32)
    export_graph(unet, (torch.from_numpy(sample), torch.tensor([500.0]), torch.from_numpy(states)), path,
                 ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
                 {"sample": latent_axes, "encoder_hidden_states": batch, "out_sample": latent_axes})
    sized = {hw: rng.standard_normal((2, LATENT_CHANNELS, *hw)).astype(np.float32) for hw in CHECK_SIZES}
    check("unet", unet, path, [
        {"sample": sample[:1], "timestep": np.array([901.0], np.float32), "encoder_hidden_states": states[:1]},
        {"sample": sample, "timestep": np.array([1.0], np.float32), "encoder_hidden_states": states},
    ] + [{"sample": z, "timestep": np.array([500.0], np.float32), "encoder_hidden_states": states}
         for z in sized.values()])

    path = os.path.join(out, "vae_decoder", "model.onnx")
    latents = (sample / SCALING_FACTOR).astype(np.float32)
    export_graph(decoder, (torch.from_numpy(latents[:1]),), path, ["latent_sample"], ["sample"],
                 {"latent_sample": latent_axes, "sample": image_axes})
    check("vae_decoder", decoder, path, [{"latent_sample": latents[:1]}, {"latent_sample": latents}] +
          [{"latent_sample": (z / SCALING_FACTOR).astype(np.float32)} for z in sized.values()])

    path = os.path.join(out, "vae_encoder", "model.onnx")
    image = rng.uniform(-1, 1, (2, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    export_graph(encoder, (torch.from_numpy(image[:1]),), path, ["sample"], ["latent_sample"],
                 {"sample": image_axes, "latent_sample": latent_axes})
    check("vae_encoder", encoder, path, [{"sample": image[:1]}, {"sample": image}] +
          [{"sample": rng.uniform(-1, 1, (2, 3, 8 * h, 8 * w)).astype(np.float32)} for h, w in CHECK_SIZES])

    write_configs(out, args.scheduler, info)
    write_json(os.path.join(out, "latent_preview.json"), fit_latent_preview(encoder, decoder))
    write_json(os.path.join(out, "holdout.json"), {
        "description": "(shape colour, shape, background colour) combos never shown in training",
        "combos": [{"colour": c, "shape": s, "background": b, "prompt": canonical_prompt(c, s, b)}
                   for c, s, b in holdout_combos()],
    })
    training = {"unet_step": info["unet_step"], "decoder_step": info["decoder_step"],
                "train_cpu_seconds": round(info["cpu_s"]), "config": info["cfg"]}
    if info["reconstructed_from_onnx"]:
        # reconstruct.py recovered the weights above from the previous (fixed-size) export.
        training["reconstructed_from_onnx"] = True
    if "finetune" in info:
        training["finetune"] = info["finetune"]
    write_json(os.path.join(out, "training_info.json"), training)
    sizes = {p: os.path.getsize(os.path.join(out, p, "model.onnx"))
             for p in ("text_encoder", "unet", "vae_decoder", "vae_encoder")}
    print("  sizes:", sizes, "total MB", round(sum(sizes.values()) / 1e6, 2))


def write_configs(out, scheduler, info):
    cfg = info["cfg"]
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": DIFFUSERS_VERSION,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", SCHEDULERS[scheduler]],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
    })
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": SCHEDULERS[scheduler],
        "_diffusers_version": DIFFUSERS_VERSION,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "timestep_spacing": "leading",
        "steps_offset": 1,
        "clip_sample": False,
        "set_alpha_to_one": False,
        "trained_betas": None,
    })
    tok = os.path.join(out, "tokenizer")
    os.makedirs(tok, exist_ok=True)
    if os.path.abspath(tok) != TOKENIZER_DIR:
        for name in ("vocab.json", "merges.txt"):
            shutil.copyfile(os.path.join(TOKENIZER_DIR, name), os.path.join(tok, name))
    special = {k: {"content": v, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
               for k, v in (("bos_token", "<|startoftext|>"), ("eos_token", "<|endoftext|>"),
                            ("pad_token", "<|endoftext|>"), ("unk_token", "<|endoftext|>"))}
    write_json(os.path.join(tok, "special_tokens_map.json"), special)
    write_json(os.path.join(tok, "tokenizer_config.json"), {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": True,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    })
    write_json(os.path.join(out, "text_encoder", "config.json"), {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_size": cfg["text_dim"],
        "num_hidden_layers": cfg["text_layers"],
        "num_attention_heads": 4,
        "intermediate_size": cfg["text_dim"] * 4,
        "max_position_embeddings": MAX_LENGTH,
        "vocab_size": CLIP_VOCAB_SIZE,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
        "torch_dtype": "float32",
    })
    ch = cfg["unet_ch"]
    write_json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": DIFFUSERS_VERSION,
        "sample_size": LATENT_SIZE,
        "in_channels": LATENT_CHANNELS,
        "out_channels": LATENT_CHANNELS,
        "block_out_channels": [ch, ch * 2, ch * 2],
        "cross_attention_dim": cfg["text_dim"],
        "attention_head_dim": 4,
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "prediction_type": "epsilon",
    })
    vae = {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": DIFFUSERS_VERSION,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": LATENT_CHANNELS,
        # Four stages, i.e. 3 downsamplings: diffusers derives vae_scale_factor = 2 ** (4 - 1) = 8 from this.
        "block_out_channels": [8, 16, 32, 64],
        "sample_size": IMAGE_SIZE,
        "scaling_factor": SCALING_FACTOR,
    }
    for part in ("vae_decoder", "vae_encoder"):
        write_json(os.path.join(out, part, "config.json"), vae)


if __name__ == "__main__":
    main()
