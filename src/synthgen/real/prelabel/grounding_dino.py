"""Grounding DINO from transformers, prompted like OWLv2 (class names and their synonyms).

The prompts are joined into one caption, `"forklift. lift truck. pallet jack."`, as Grounding DINO
was trained. The model scores every query box against every caption token; a prompt's score is its
best token's, and a box takes the class of its best prompt (the tokens are mapped back to prompts by
their character offsets, so no decoded text is matched); a class's score is its best prompt's, kept
per box in `attributes["class_scores"]`. Loading, provenance and the boxes are `OpenVocabDetector`'s.
"""

from __future__ import annotations

import torch

from synthgen.labels import Instance
from synthgen.real.prelabel.base import Photo, PrelabelError
from synthgen.real.prelabel.open_vocab import OpenVocabDetector


class GroundingDinoDetector(OpenVocabDetector):
    """Grounding DINO (`--model`: hub id or `save_pretrained` folder) over `prompts`."""

    def __init__(self, model: str, prompts: dict[str, list[str]], threshold: float, device: str):
        super().__init__("grounding-dino", model, prompts, threshold, device)
        self.caption, spans, start = "", [], 0
        for text in self.texts:
            phrase = " ".join(text.lower().split())
            spans.append((start, start + len(phrase)))
            self.caption += phrase + ". "
            start = len(self.caption)
        self.caption = self.caption.strip()
        self.token_prompts = self._token_prompts(spans)

    @staticmethod
    def model_classes(family: str):
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        return GroundingDinoForObjectDetection, GroundingDinoProcessor

    def _token_prompts(self, spans: list[tuple[int, int]]) -> torch.Tensor:
        """(tokens, prompts) 0/1 matrix: which caption token belongs to which prompt."""
        try:
            offsets = self.processor.tokenizer(self.caption, return_offsets_mapping=True)["offset_mapping"]
        except NotImplementedError:  # a slow (pure Python) tokenizer has no offsets
            raise PrelabelError(f"--model: {self.model_id!r} needs a fast tokenizer (tokenizer.json)") from None
        limit = self.model.config.max_text_len
        if len(offsets) > limit:
            raise PrelabelError(f"--classes: the prompts make {len(offsets)} tokens; Grounding DINO reads at most {limit}")
        matrix = torch.zeros(len(offsets), len(spans))
        for token, (begin, end) in enumerate(offsets):
            for prompt, (first, last) in enumerate(spans):
                matrix[token, prompt] = float(end > begin and begin >= first and end <= last)
        if not bool((matrix.sum(0) > 0).all()):
            raise PrelabelError(f"--model: the tokenizer of {self.model_id!r} leaves a prompt without tokens")
        return matrix

    @torch.inference_mode()
    def predict(self, photos: list[Photo]) -> list[list[Instance]]:
        inputs = self.processor(
            images=[p.image for p in photos], text=[self.caption] * len(photos), return_tensors="pt", padding=True
        ).to(self.device)
        outputs = self.model(**inputs)
        tokens = self.token_prompts.to(self.device)
        probabilities = outputs.logits.sigmoid()[:, :, : len(tokens)]  # (photos, queries, tokens)
        per_prompt = (probabilities[..., None] * tokens).amax(2)  # (photos, queries, prompts)
        scores, labels = per_prompt.max(-1)
        per_class = self.per_class_scores(per_prompt)
        results = []
        for photo, box, score, label, by_class in zip(photos, outputs.pred_boxes, scores, labels, per_class):
            keep = score >= self.threshold
            width, height = photo.image.size
            cx, cy, w, h = box[keep].unbind(-1)
            corners = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
            corners = corners * torch.tensor([width, height, width, height], device=corners.device)
            found = {"boxes": corners, "labels": label[keep], "scores": score[keep], "class_scores": by_class[keep]}
            results.append(self._instances(found, photo))
        return results
