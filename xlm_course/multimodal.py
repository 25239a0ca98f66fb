"""Multimodal experiments on emoji: pictures or speech with multilingual text (chapters 3.6–3.7).

Two experiments share these pieces:

* **Fusion for classification.** Each emoji's Unicode category is predicted from its picture (or its spoken
  name), from its name as text, or from both through one of the fusion heads of :mod:`xlm_course.models.fusion`.
  The text vectors come from the frozen, jointly pretrained encoder; training uses English names only, so
  testing with names in another language is zero-shot for the text side.
* **CLIP-style alignment** {cite}`radford2021clip`: an image encoder and a projection of the frozen text vectors
  are trained with the symmetric InfoNCE loss on (picture, English name) pairs. Because the text encoder already
  maps a French or Chinese name near its English translation, the pictures become retrievable by names in
  languages never paired with a picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data import load_emoji_names
from .objectives import info_nce
from .ranking import embed, ranking_metrics
from .training import (
    History,
    TrainingConfig,
    check_positive_ints,
    check_positive_numbers,
    check_warmup,
    train,
)
from .transfer import ClassificationTask, EncoderSource


@dataclass(frozen=True)
class MultimodalConfig:
    """Training of a fusion classifier or an image–text aligner (everything but the text encoder trains)."""

    steps: int = 400
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 20
    weight_decay: float = 0.01
    temperature: float = 0.07  # InfoNCE, alignment only
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size")
        check_warmup(self)
        check_positive_numbers(self, "temperature", "learning_rate")

    def training(self) -> TrainingConfig:
        return TrainingConfig(steps=self.steps, learning_rate=self.learning_rate, warmup_steps=self.warmup_steps,
                              weight_decay=self.weight_decay, seed=self.seed, progress=False)


@dataclass(frozen=True)
class EmojiSplit:
    """The emoji of one split of an emoji classification task, one row per emoji, with each language's name."""

    concepts: list[str]
    emoji: list[str]  # the character sequence to draw
    labels: torch.Tensor
    names: dict[str, list[str]]  # language -> the name of each row's emoji


def emoji_split(task: ClassificationTask, split: str) -> EmojiSplit:
    """One row per emoji of ``split`` (the task's split by concept, so test emoji are never trained on), with
    its label and its name in every language of the task."""
    frame = task.frame(split)
    english = frame[frame["lang"] == task.languages[0]]
    concepts = list(task.splits[split].select(english.index.tolist())["concept"])
    names = {}
    for lang in task.languages:
        part = task.splits[split].select(frame.index[frame["lang"] == lang].tolist())
        by_concept = dict(zip(part["concept"], part["text"], strict=True))
        missing = [concept for concept in concepts if concept not in by_concept]
        if missing:
            raise ValueError(f"{len(missing)} emoji of the {split} split have no {lang} name (e.g. {missing[0]!r})")
        names[lang] = [by_concept[concept] for concept in concepts]
    drawn = dict(zip(*[load_emoji_names([task.languages[0]])[column] for column in ("concept", "emoji")],
                     strict=True))
    return EmojiSplit(concepts, [drawn[concept] for concept in concepts], torch.tensor(english["label"].to_numpy()),
                      names)


def text_vectors(source: EncoderSource, texts: Sequence[str], languages: Sequence[str]) -> torch.Tensor:
    """Unit-length sentence vectors of ``texts`` from ``source``'s frozen encoder (one row each)."""
    return embed(source.encoder(), source, list(texts), list(languages))


def _check_rows(text: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    sizes = {len(text), len(inputs)} | ({len(labels)} if labels is not None else set())
    if len(sizes) != 1 or not len(text):
        raise ValueError(f"text, inputs (and labels) need the same non-zero number of rows, got "
                         f"{len(text)}, {len(inputs)}" + (f", {len(labels)}" if labels is not None else ""))


def _batches(count: int, config: MultimodalConfig):
    """Row indices of each step: shuffled epochs, a pure function of (seed, step)."""
    per_epoch = max(1, count // config.batch_size)

    def rows(step: int) -> torch.Tensor:
        epoch, position = divmod(step, per_epoch)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(config.seed * 10_007 + epoch))
        return order[position * config.batch_size:(position + 1) * config.batch_size]

    return rows


def train_classifier(model: nn.Module, text: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor,
                     config: MultimodalConfig = MultimodalConfig()) -> History:
    """Train ``model(text, inputs) -> logits`` with cross-entropy on the given rows."""
    _check_rows(text, inputs, labels)
    rows = _batches(len(labels), config)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = rows(step)
        return {"text": text[chosen], "inputs": inputs[chosen], "labels": labels[chosen]}

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": F.cross_entropy(model(batch["text"], batch["inputs"]), batch["labels"])}

    return train(model, loss_fn, batch_fn, config.training())


@torch.no_grad()
def predict(model: nn.Module, text: torch.Tensor, inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted label of each row."""
    _check_rows(text, inputs)
    model.eval()
    return torch.cat([model(text[i:i + batch_size], inputs[i:i + batch_size]).argmax(-1)
                      for i in range(0, len(text), batch_size)])


def accuracy_by_language(model: nn.Module, text_by_language: Mapping[str, torch.Tensor], inputs: torch.Tensor,
                         labels: torch.Tensor) -> pd.Series:
    """Accuracy with the text side in each language (the images or sounds are the same rows every time)."""
    for text in text_by_language.values():
        _check_rows(text, inputs, labels)
    return pd.Series({lang: float((predict(model, text, inputs) == labels).float().mean())
                      for lang, text in text_by_language.items()}, name="accuracy")


class ImageTextAligner(nn.Module):
    """An image encoder and a text projection into one unit-length space (CLIP's two towers; the text tower's
    encoder is frozen and only its projection trains)."""

    def __init__(self, image_encoder: nn.Module, image_dim: int, text_dim: int, dim: int = 64) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.image_encoder = image_encoder
        self.image_projection = nn.Linear(image_dim, dim)
        self.text_projection = nn.Sequential(nn.Linear(text_dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_projection(self.image_encoder(images).mean(1)), dim=-1)

    def embed_texts(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(text), dim=-1)


def train_aligner(aligner: ImageTextAligner, text: torch.Tensor, images: torch.Tensor,
                  config: MultimodalConfig = MultimodalConfig()) -> History:
    """Symmetric InfoNCE on (image, text) pairs: row i's picture and name are the positives, the other rows of
    the batch the negatives, in both directions."""
    _check_rows(text, images)
    rows = _batches(len(text), config)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = rows(step)
        return {"text": text[chosen], "images": images[chosen]}

    def loss_fn(model: ImageTextAligner, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pictures, names = model.embed_images(batch["images"]), model.embed_texts(batch["text"])
        loss = (info_nce(pictures, names, config.temperature) + info_nce(names, pictures, config.temperature)) / 2
        return {"loss": loss}

    return train(aligner, loss_fn, batch_fn, config.training())


@torch.no_grad()
def retrieval_by_language(aligner: ImageTextAligner, text_by_language: Mapping[str, torch.Tensor],
                          images: torch.Tensor, ks: Sequence[int] = (1, 5)) -> pd.DataFrame:
    """Text → image retrieval: row i's name (in each language) should find row i's picture among all of
    ``images``. Recall@k per language, with the chance level k / pool size."""
    aligner.eval()
    pictures = aligner.embed_images(images)
    table = {}
    for lang, text in text_by_language.items():
        _check_rows(text, images)
        metrics = ranking_metrics(aligner.embed_texts(text) @ pictures.T, [[i] for i in range(len(text))], ks)
        table[lang] = {f"recall@{k}": metrics[f"recall@{k}"] for k in ks}
    frame = pd.DataFrame(table).T
    for k in ks:
        frame[f"chance@{k}"] = k / len(images)
    return frame


@torch.no_grad()
def encode_tokens(encoder: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The (frozen) encoder's tokens for every input, computed once: fusion heads then train on these."""
    if not len(inputs):
        raise ValueError("inputs is empty")
    encoder.eval()
    return torch.cat([encoder(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])
