"""A tiny random open-vocabulary detector (OWL-ViT / OWLv2) saved as a folder, loaded as users load theirs."""

from __future__ import annotations

import json

import torch
import transformers


def tiny_open_vocab_model(folder, family):
    """A random model with 16-wide layers, a character-level CLIP tokenizer, 32 px images."""
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}  # OWL masks queries whose first id is 0
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    text = dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=8)  # fmt: skip
    if family == "owlv2":
        config = transformers.Owlv2Config(text_config=text, vision_config=vision, projection_dim=16)
        model, images = transformers.Owlv2ForObjectDetection, transformers.Owlv2ImageProcessor(size={"height": 32, "width": 32})
        processor = transformers.Owlv2Processor(image_processor=images, tokenizer=tokenizer)
    else:
        config = transformers.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=16)
        images = transformers.OwlViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
        model, processor = transformers.OwlViTForObjectDetection, transformers.OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    torch.manual_seed(0)
    model = model(config)
    with torch.no_grad():  # logits = cosine similarity, so sigmoid scores lie in (0.27, 0.73)
        for layer in (model.class_head.logit_shift, model.class_head.logit_scale):
            layer.weight.zero_()
            layer.bias.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
