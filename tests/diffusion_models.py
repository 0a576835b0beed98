"""Randomly initialised Stable Diffusion 1.5 style models, written as a user's model folder would be.

For tests (`tiny`: seconds on a CPU) and throughput benchmarks (`sd15`: the real SD 1.5 UNet, VAE,
CLIP text encoder and ControlNet architectures; throughput does not depend on weight values).
Nothing is downloaded: the tokenizer is built from an in-code byte-level vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "unet": dict(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, cross_attention_dim=32, attention_head_dim=2,
            norm_num_groups=8, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        ),
        "vae": dict(
            block_out_channels=(32, 64), layers_per_block=2, norm_num_groups=8, sample_size=64, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        ),
        "text": dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, projection_dim=32),
        "controlnet_embedding": (16, 32),
    },
    "sd15": {
        "unet": dict(
            block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, sample_size=64, cross_attention_dim=768,
            attention_head_dim=8, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        ),
        "vae": dict(
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        ),
        "text": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768),
        "controlnet_embedding": (16, 32, 96, 256),
    },
}
SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
)


def byte_level_tokenizer(max_length: int = 77) -> Any:
    """A CLIPTokenizer over single bytes (no merges): every text tokenizes, nothing is downloaded."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({token: len(vocab) + i for i, token in enumerate(alphabet + [c + "</w>" for c in alphabet])})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def text_config(size: str, **overrides: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=1000, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_act="quick_gelu", **{**SIZES[size]["text"], **overrides},
    )


def build_pipeline(folder: Path, size: str = "tiny", seed: int = 0) -> Any:
    """Save a random StableDiffusionPipeline (safetensors) to `folder`; return its UNet."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**SIZES[size]["unet"])
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=AutoencoderKL(**SIZES[size]["vae"]),
        text_encoder=CLIPTextModel(text_config(size)),
        tokenizer=byte_level_tokenizer(),
        scheduler=DDIMScheduler(**SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return unet


def build_sdxl_pipeline(folder: Path, seed: int = 0) -> Any:
    """Save a tiny random StableDiffusionXLPipeline (two text encoders, text-time conditioning); return its UNet."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **{**SIZES["tiny"]["unet"], "cross_attention_dim": 64, "attention_head_dim": (2, 4)},
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,
    )  # fmt: skip
    pipe = StableDiffusionXLPipeline(
        unet=unet,
        vae=AutoencoderKL(**SIZES["tiny"]["vae"]),
        text_encoder=CLIPTextModel(text_config("tiny")),
        text_encoder_2=CLIPTextModelWithProjection(text_config("tiny")),
        tokenizer=byte_level_tokenizer(),
        tokenizer_2=byte_level_tokenizer(),
        scheduler=EulerDiscreteScheduler(**{k: v for k, v in SCHEDULER.items() if k not in ("clip_sample", "set_alpha_to_one")}),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return unet


def build_controlnet(folder: Path, unet: Any, size: str = "tiny", seed: int = 1) -> None:
    """Save a random ControlNet made from `unet` (ControlNetModel.from_unet) to `folder`."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=SIZES[size]["controlnet_embedding"])
    with torch.no_grad():  # from_unet zero-initialises the output convs; give them weight so the control matters
        for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            conv.weight.normal_(std=0.05)
    net.save_pretrained(folder, safe_serialization=True)


def build_clip(folder: Path, seed: int = 2, image_size: int = 32) -> None:
    """Save a random CLIPModel and its processor (byte-level tokenizer) to `folder`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPVisionConfig

    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=image_size,
        patch_size=8, projection_dim=32,
    )
    config = CLIPConfig(text_config=text_config("tiny").to_dict(), vision_config=vision.to_dict(), projection_dim=32)
    CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    images = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    CLIPProcessor(image_processor=images, tokenizer=byte_level_tokenizer()).save_pretrained(folder)
