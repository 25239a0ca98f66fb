"""CLIP-style alignment of emoji pictures with multilingual names (chapter 3.6) {cite}`radford2021clip`.

An image encoder and a projection of the frozen text vectors are trained with the symmetric InfoNCE loss on
(picture, English name) pairs. Because the text encoder already maps a French or Chinese name near its English
translation, the pictures become retrievable by names in languages never paired with a picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..objectives import info_nce
from ..ranking import ranking_metrics
from ..runtime import evaluating
from ..training import History, train
from ..validation import check_positive_int
from .classification import AlignerConfig, batches, check_rows


class ImageTextAligner(nn.Module):
    """An image encoder and a text projection into one unit-length space (CLIP's two towers; the text tower's
    encoder is frozen and only its projection trains)."""

    def __init__(self, image_encoder: nn.Module, image_dim: int, text_dim: int, dim: int = 64) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        self.image_encoder = image_encoder
        self.image_projection = nn.Linear(image_dim, dim)
        self.text_projection = nn.Sequential(nn.Linear(text_dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.image_encoder(images).mean(1)), dim=-1)

    def embed_texts(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(text), dim=-1)


def train_aligner(aligner: ImageTextAligner, text: torch.Tensor, images: torch.Tensor,
                  config: AlignerConfig = AlignerConfig()) -> History:
    """Symmetric InfoNCE on (image, text) pairs: row i's picture and name are the positives, the other rows of
    the batch the negatives, in both directions (picture → names and name → pictures, averaged: one
    :func:`~xlm_course.objectives.info_nce` call, which is symmetric by default)."""
    check_rows(text, images)
    rows = batches(len(text), config)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = rows(step)
        return {"text": text[chosen], "images": images[chosen]}

    def loss_fn(model: ImageTextAligner, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pictures, names = model.embed_images(batch["images"]), model.embed_texts(batch["text"])
        return {"loss": info_nce(pictures, names, config.temperature)}

    return train(aligner, loss_fn, batch_fn, config.training(progress=False))


def retrieval_by_language(aligner: ImageTextAligner, text_by_language: Mapping[str, torch.Tensor],
                          images: torch.Tensor, ks: Sequence[int] = (1, 5),
                          device: torch.device | str | None = None) -> pd.DataFrame:
    """Text → image retrieval: row i's name (in each language) should find row i's picture among all of
    ``images``. Recall@k per language, with the chance level k / pool size."""
    for text in text_by_language.values():
        check_rows(text, images)
    with evaluating(aligner, device) as chosen:
        pictures = aligner.embed_images(images.to(chosen)).float()
        scores = {lang: (aligner.embed_texts(text.to(chosen)).float() @ pictures.T).cpu()
                  for lang, text in text_by_language.items()}
    table = {}
    for lang, text in text_by_language.items():
        metrics = ranking_metrics(scores[lang], [[i] for i in range(len(text))], ks)
        table[lang] = {f"recall@{k}": metrics[f"recall@{k}"] for k in ks}
    frame = pd.DataFrame(table).T
    for k in ks:
        frame[f"chance@{k}"] = k / len(images)
    return frame
