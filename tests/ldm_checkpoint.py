"""Write a diffusers Stable Diffusion folder as one original-layout (LDM) `.safetensors` file.

Single-file checkpoints in the wild use the original Stable Diffusion key names; this renames a
saved pipeline's UNet, VAE and CLIP text encoder keys into that layout, so the tests can load a
single file through `from_single_file` the way a user's downloaded checkpoint is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.", "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
}
RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
          "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}  # fmt: skip
VAE_ATTENTION = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def _unet_prefixes(config: dict) -> dict[str, str]:
    per_block, blocks = config["layers_per_block"], len(config["block_out_channels"])
    prefixes = {"mid_block.attentions.0.": "middle_block.1."}
    prefixes.update({f"mid_block.resnets.{j}.": f"middle_block.{2 * j}." for j in range(2)})
    for i in range(blocks):
        for j in range(per_block):
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{(per_block + 1) * i + j + 1}.0."
            prefixes[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{(per_block + 1) * i + j + 1}.1."
        for j in range(per_block + 1):
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{(per_block + 1) * i + j}.0."
            prefixes[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{(per_block + 1) * i + j}.1."
        if i < blocks - 1:
            prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(per_block + 1) * (i + 1)}.0.op."
            has_attention = "CrossAttn" in config["up_block_types"][i]
            prefixes[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{(per_block + 1) * i + per_block}.{2 if has_attention else 1}."
    return prefixes


def _vae_prefixes(config: dict) -> dict[str, str]:
    blocks, per_block = len(config["block_out_channels"]), config["layers_per_block"]
    prefixes = {"encoder.mid_block.attentions.0.": "encoder.mid.attn_1.", "decoder.mid_block.attentions.0.": "decoder.mid.attn_1.",
                "encoder.conv_norm_out.": "encoder.norm_out.", "decoder.conv_norm_out.": "decoder.norm_out."}  # fmt: skip
    for part in ("encoder", "decoder"):
        prefixes.update({f"{part}.mid_block.resnets.{j}.": f"{part}.mid.block_{j + 1}." for j in range(2)})
    for i in range(blocks):
        prefixes.update({f"encoder.down_blocks.{i}.resnets.{j}.": f"encoder.down.{i}.block.{j}." for j in range(per_block)})
        up = blocks - 1 - i
        prefixes.update({f"decoder.up_blocks.{i}.resnets.{j}.": f"decoder.up.{up}.block.{j}." for j in range(per_block + 1)})
        if i < blocks - 1:
            prefixes[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
            prefixes[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{up}.upsample."
    return prefixes


def _rename(key: str, prefixes: dict[str, str]) -> str:
    for old, new in prefixes.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def write_ldm_checkpoint(pipeline_folder: Path, file: Path) -> None:
    folder = Path(pipeline_folder)
    checkpoint = {}
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    unet_prefixes = {**UNET_TOP, **_unet_prefixes(unet_config)}
    for key, value in load_file(folder / "unet" / "diffusion_pytorch_model.safetensors").items():
        renamed = _rename(key, unet_prefixes)
        if ".resnets." in key:
            head, _, tail = renamed.rpartition(".")
            inner = head.split(".")
            inner[-1] = RESNET.get(inner[-1], inner[-1])
            renamed = ".".join(inner) + "." + tail
        checkpoint["model.diffusion_model." + renamed] = value
    vae_prefixes = _vae_prefixes(json.loads((folder / "vae" / "config.json").read_text()))
    for key, value in load_file(folder / "vae" / "diffusion_pytorch_model.safetensors").items():
        renamed = _rename(key, vae_prefixes)
        if ".attn_1." in renamed:
            head, _, name = renamed.partition(".attn_1.")
            name = _rename(name, VAE_ATTENTION)
            renamed = f"{head}.attn_1.{name}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        elif ".block" in renamed:
            renamed = renamed.replace(".conv_shortcut.", ".nin_shortcut.")
        checkpoint["first_stage_model." + renamed] = value
    for key, value in load_file(folder / "text_encoder" / "model.safetensors").items():
        checkpoint["cond_stage_model.transformer.text_model." + key.removeprefix("text_model.")] = value
    save_file({k: v.contiguous() for k, v in checkpoint.items()}, file)
