"""Recover the trained weights of the shapes demo model from its shipped ONNX files
into the PyTorch modules of shapes.py, and write them as training checkpoints
(models/train/checkpoints/unet.pt and decoder.pt, the layout train.py, finetune.py
and export.py read). The original checkpoints were never committed.

  python3 models/train/reconstruct.py [--onnx models/shapes-demo]

How: the same modules, filled with distinct random values, are exported exactly as
export.py exported them (same torch version, same dummy inputs); the exporter then
gives every initializer the same name as in the shipped file. Each initializer of the
probe export is matched by value to the parameter it came from (as is, transposed for
the MatMul of a Linear, reshaped to [C,1,1] for a GroupNorm's Mul/Add), and the shipped
initializer of that name is mapped back the same way. Finally the rebuilt torch modules
are run against the shipped ONNX files with onnxruntime on a few inputs.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import (  # noqa: E402
    ALL_COMBOS, LATENT_CHANNELS, MAX_LENGTH, REPO, SCALING_FACTOR, TOKENIZER_DIR, ClipBpe, Decoder, FixedEncoder,
    TextEncoder, UNet, build_id_map, canonical_prompt, known_token_ids,
)
from train import CHECKPOINT_DIR, save  # noqa: E402
from export import TextEncoderExport, export_graph, worst_diff  # noqa: E402

BATCH = {0: "batch"}


def initializers(path):
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def fill_distinct(module, seed):
    """Give every parameter random values, so that each initializer identifies its parameter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def candidate_views(p):
    """(transform name, the parameter as the exporter may store it)."""
    yield "same", p
    if p.ndim == 2:
        yield "transpose", p.T
    yield "reshape", p.reshape(-1)


def map_back(probe_module, probe_path, shipped_path, prefix=""):
    """state_dict of probe_module with every parameter taken from the shipped ONNX file."""
    probe = initializers(probe_path)
    shipped = initializers(shipped_path)
    assert set(probe) == set(shipped), (
        f"{shipped_path}: initializer names differ from the probe export: "
        f"{sorted(set(probe) ^ set(shipped))[:10]}")
    params = {name: p.detach().numpy() for name, p in probe_module.named_parameters()}
    state = {}
    for init_name, value in probe.items():
        for name, p in params.items():
            if p.size != value.size:
                continue
            for how, view in candidate_views(p):
                if view.size == value.size and np.array_equal(view.reshape(value.shape), value):
                    src = shipped[init_name]
                    if how == "transpose":
                        src = src.reshape(view.shape).T
                    state[name] = torch.tensor(src.reshape(p.shape))
                    break
            else:
                continue
            break
    missing = sorted(set(params) - set(state))
    assert not missing, f"{shipped_path}: parameters not found among the initializers: {missing}"
    full = probe_module.state_dict()
    full.update(state)
    return full


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", default=os.path.join(REPO, "models", "shapes-demo"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    import json
    with open(os.path.join(args.onnx, "training_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    cfg = info["config"]
    bpe = ClipBpe(TOKENIZER_DIR)
    token_ids = known_token_ids(bpe)
    dim = cfg["text_dim"]
    side = 16  # the shipped graphs are fixed at 16x16 latents
    rng = np.random.default_rng(0)
    ids = np.array([bpe.encode(canonical_prompt(*c)) for c in ALL_COMBOS[:3]], dtype=np.int32)
    sample = rng.standard_normal((2, LATENT_CHANNELS, side, side)).astype(np.float32)
    states = rng.standard_normal((2, MAX_LENGTH, dim)).astype(np.float32)
    tmp = tempfile.mkdtemp(prefix="shapes-probe-")

    text = TextEncoder(build_id_map(token_ids), len(token_ids), dim=dim, layers=cfg["text_layers"])
    fill_distinct(text, 1)
    probe = os.path.join(tmp, "text_encoder.onnx")
    export_graph(TextEncoderExport(text), (torch.from_numpy(ids[:1]),), probe, ["input_ids"],
                 ["last_hidden_state", "pooler_output"],
                 {"input_ids": BATCH, "last_hidden_state": BATCH, "pooler_output": BATCH})
    shipped = os.path.join(args.onnx, "text_encoder", "model.onnx")
    te = TextEncoderExport(text)
    te.load_state_dict(map_back(te, probe, shipped))
    assert np.array_equal(initializers(shipped)["text.id_map"], text.id_map.numpy()), "text encoder vocabulary differs"

    unet = UNet(cfg["unet_ch"], context_dim=dim)
    fill_distinct(unet, 2)
    probe = os.path.join(tmp, "unet.onnx")
    export_graph(unet, (torch.from_numpy(sample), torch.tensor([500.0]), torch.from_numpy(states)), probe,
                 ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
                 {"sample": BATCH, "encoder_hidden_states": BATCH, "out_sample": BATCH})
    unet.load_state_dict(map_back(unet, probe, os.path.join(args.onnx, "unet", "model.onnx")))

    decoder = Decoder()
    fill_distinct(decoder, 3)
    probe = os.path.join(tmp, "vae_decoder.onnx")
    latents = (sample / SCALING_FACTOR).astype(np.float32)
    export_graph(decoder, (torch.from_numpy(latents[:1]),), probe, ["latent_sample"], ["sample"],
                 {"latent_sample": BATCH, "sample": BATCH})
    decoder.load_state_dict(map_back(decoder, probe, os.path.join(args.onnx, "vae_decoder", "model.onnx")))

    # The fixed encoder has two buffers: the mean, and std * SCALING_FACTOR folded into one divisor.
    enc_inits = initializers(os.path.join(args.onnx, "vae_encoder", "model.onnx"))
    divisor = [v for k, v in enc_inits.items() if k != "mean"]
    assert len(divisor) == 1, sorted(enc_inits)
    encoder = FixedEncoder(torch.from_numpy(enc_inits["mean"]).flatten(),
                           torch.from_numpy(divisor[0] / np.float32(SCALING_FACTOR)).flatten())

    for m in (text, unet, decoder, encoder):
        m.eval()
    image = rng.uniform(-1, 1, (2, 3, 8 * side, 8 * side)).astype(np.float32)
    checks = {
        "text_encoder": (te, [{"input_ids": ids[:1]}, {"input_ids": ids}]),
        "unet": (unet, [
            {"sample": sample[:1], "timestep": np.array([901.0], np.float32), "encoder_hidden_states": states[:1]},
            {"sample": sample, "timestep": np.array([1.0], np.float32), "encoder_hidden_states": states},
            {"sample": sample, "timestep": np.array([400.0], np.float32), "encoder_hidden_states": states},
        ]),
        "vae_decoder": (decoder, [{"latent_sample": latents[:1]}, {"latent_sample": latents}]),
        "vae_encoder": (encoder, [{"sample": image[:1]}, {"sample": image}]),
    }
    for name, (model, feeds) in checks.items():
        worst = worst_diff(model, os.path.join(args.onnx, name, "model.onnx"), feeds)
        assert worst < 2e-5, f"{name}: reconstructed torch model differs from the shipped ONNX by {worst}"
        print(f"  {name}: max |shipped onnx - reconstructed torch| = {worst:.2e}")

    os.makedirs(CHECKPOINT_DIR, exist_ok=True)
    # The EMA weights were exported; they become both the raw and the EMA weights (no optimizer state).
    save(os.path.join(CHECKPOINT_DIR, "unet.pt"), {
        "text": text.state_dict(), "unet": unet.state_dict(), "ema_text": text.state_dict(),
        "ema_unet": unet.state_dict(), "step": info["unet_step"], "cpu_s": float(info["train_cpu_seconds"]),
        "cfg": cfg, "token_ids": token_ids, "latent_mean": encoder.mean.flatten(),
        "latent_std": encoder.std.flatten(), "reconstructed_from_onnx": True,
    })
    save(os.path.join(CHECKPOINT_DIR, "decoder.pt"), {
        "decoder": decoder.state_dict(), "step": info["decoder_step"], "cpu_s": 0.0, "cfg": cfg,
        "reconstructed_from_onnx": True,
    })
    print(f"wrote {CHECKPOINT_DIR}/unet.pt and decoder.pt")


if __name__ == "__main__":
    main()
