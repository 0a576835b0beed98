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


def tiny_yolo_onnx(
    path, head, protos=None, names=("person", "car"), size=(64, 64), end2end=False, metadata=True, half=False, batch=1, dynamic=False
):
    """A YOLO-shaped ONNX file as `yolo export format=onnx` writes one: input `images` (1, 3, H, W),
    `output0` = `head` (v8/11 layout (1, 4+nc[+32], N), or (1, N, 6[+32]) end-to-end) and, with
    `protos` (1, 32, H/4, W/4), `output1` = those prototypes except the last, which is read from the
    photo: 8 * (mean red of each 4x4 input cell - 0.5), so a mask on it follows the red parts of the
    letterboxed photo. The ultralytics metadata (names, imgsz, task, end2end) is attached; `half`
    makes every tensor float16, as `yolo export half=True` does; `batch` fixes the input's batch size
    and `dynamic` leaves its sizes open (the input size is then the metadata's `imgsz`)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    height, width = size
    real, element = (np.float16, TensorProto.FLOAT16) if half else (np.float32, TensorProto.FLOAT)
    zero = numpy_helper.from_array(np.zeros((), real), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),  # the head reads the input, adds 0
        helper.make_node("Add", ["head", "nothing"], ["output0"]),
    ]
    constants = [numpy_helper.from_array(np.asarray(head, real), "head"), zero]
    outputs = [helper.make_tensor_value_info("output0", element, list(np.shape(head)))]
    if protos is not None:
        constants += [
            numpy_helper.from_array(np.asarray(protos, real)[:, :-1], "fixed"),
            numpy_helper.from_array(np.array([0, 0, 0, 0], np.int64), "starts"),
            numpy_helper.from_array(np.array([1, 1, height, width], np.int64), "ends"),
            numpy_helper.from_array(np.array(0.5, real), "half"),
            numpy_helper.from_array(np.array(8.0, real), "gain"),
        ]
        nodes += [
            helper.make_node("Slice", ["images", "starts", "ends"], ["red"]),
            helper.make_node("AveragePool", ["red"], ["cells"], kernel_shape=[4, 4], strides=[4, 4]),
            helper.make_node("Sub", ["cells", "half"], ["centred"]),
            helper.make_node("Mul", ["centred", "gain"], ["photo"]),
            helper.make_node("Concat", ["fixed", "photo"], ["output1"], axis=1),
        ]
        outputs.append(helper.make_tensor_value_info("output1", element, list(np.shape(protos))))
    graph = helper.make_graph(
        nodes, "tiny_yolo", [helper.make_tensor_value_info("images", element, ["b", 3, "h", "w"] if dynamic else [batch, 3, height, width])],
        outputs, initializer=constants,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 9
    if metadata:
        add_ultralytics_metadata(model, names, size, protos is not None, end2end)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def add_ultralytics_metadata(model, names, size, segment, end2end=False):
    """The metadata_props `yolo export` writes (each value `str()` of a Python value)."""
    values = {
        "description": "tiny test model", "author": "Ultralytics", "stride": "32", "task": "segment" if segment else "detect",
        "batch": "1", "imgsz": str(list(size)), "names": str(dict(enumerate(names))), "end2end": str(end2end),
    }  # fmt: skip
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def tiny_yolo_torch_onnx(path, head, protos, names=("person", "car"), size=(64, 64)):
    """The segmentation model of `tiny_yolo_onnx`, written as a torch module and exported with
    `torch.onnx.export` (as ultralytics exports), then given the ultralytics metadata."""
    import onnx

    class TinyYolo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("head", torch.as_tensor(head, dtype=torch.float32))
            self.register_buffer("fixed", torch.as_tensor(protos, dtype=torch.float32)[:, :-1])

        def forward(self, images):
            photo = 8 * (torch.nn.functional.avg_pool2d(images[:, :1], 4) - 0.5)
            return self.head + 0 * images.mean(), torch.cat([self.fixed, photo], 1)

    import warnings

    with warnings.catch_warnings():  # the TorchScript exporter is deprecated; the new one needs onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            TinyYolo(), (torch.zeros(1, 3, *size),), str(path), input_names=["images"],
            output_names=["output0", "output1"], dynamo=False,
        )  # fmt: skip
    model = onnx.load(str(path))
    add_ultralytics_metadata(model, names, size, segment=True)
    onnx.save(model, str(path))
    return path


def tiny_grounding_dino(folder):
    """A random Grounding DINO with a 1-layer Swin, a 1-layer BERT and 32-wide layers (GroupNorm needs 32), 10 queries,
    and a BERT tokenizer over an in-code vocabulary; images resized to 64 px."""
    words = ["forklift", "lift", "truck", "fork", "pallet", "jack", "cone", "person", "car"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *words, *"abcdefghijklmnopqrstuvwxyz"]
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"), model_max_length=256)
    backbone = transformers.SwinConfig(
        image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2,
        out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    text = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=256,
    )  # fmt: skip
    config = transformers.GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, num_queries=10, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_n_points=1, decoder_n_points=1, num_feature_levels=3, disable_custom_kernels=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GroundingDinoForObjectDetection(config)
    images = transformers.GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 64})
    model.save_pretrained(folder)
    transformers.GroundingDinoProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def tiny_sam(folder, processor=True):
    """A random SAM with a 1-layer, 16-wide ViT on 64 px images (4x4 patches of 16 px), saved with its
    processor (or, with `processor=False`, the model alone)."""
    vision = transformers.SamVisionConfig(
        hidden_size=16, output_channels=16, num_hidden_layers=1, num_attention_heads=2, mlp_dim=32, image_size=64,
        patch_size=16, global_attn_indexes=[0], window_size=0, num_pos_feats=8,
    )  # fmt: skip
    prompts = transformers.SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = transformers.SamMaskDecoderConfig(
        hidden_size=16, mlp_dim=32, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=16,
    )  # fmt: skip
    config = transformers.SamConfig(vision_config=vision, prompt_encoder_config=prompts, mask_decoder_config=decoder)
    torch.manual_seed(0)
    transformers.SamModel(config).save_pretrained(folder)
    if processor:
        images = transformers.SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
        transformers.SamProcessor(image_processor=images).save_pretrained(folder)
    return folder


def yolo_head(rows):
    """A raw v8 head (1, 4 + nc [+ 32], N) from rows of (x0, y0, x1, y1, class scores..., coefficients...)."""
    import numpy as np

    rows = np.asarray(rows, np.float32)
    x0, y0, x1, y1 = rows[:, :4].T
    return np.concatenate([np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], 1), rows[:, 4:]], 1).T[None]


def tiny_sam2(folder):
    """A random SAM 2 (Hiera backbone 8..64 wide, 128 px images) saved with its processor."""
    hiera = transformers.Sam2HieraDetConfig(
        hidden_size=8, image_size=[128, 128], blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4], global_attention_blocks=[3],
        window_positional_embedding_background_size=[2, 2],
    )  # fmt: skip
    vision = transformers.Sam2VisionConfig(
        backbone_config=hiera, backbone_channel_list=[64, 32, 16, 8], backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=32,
    )  # fmt: skip
    prompts = transformers.Sam2PromptEncoderConfig(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=4)
    decoder = transformers.Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=32, num_attention_heads=2, iou_head_hidden_dim=16)
    config = transformers.Sam2Config(vision_config=vision, prompt_encoder_config=prompts, mask_decoder_config=decoder)
    torch.manual_seed(0)
    transformers.Sam2Model(config).save_pretrained(folder)
    images = transformers.Sam2ImageProcessor(size={"height": 128, "width": 128})
    transformers.Sam2Processor(image_processor=images).save_pretrained(folder)
    return folder
