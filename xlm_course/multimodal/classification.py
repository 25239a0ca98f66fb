"""Fusion for classification on emoji (chapters 3.6–3.7), and the pieces the alignment experiment shares.

Each emoji's Unicode category is predicted from its picture (or its spoken name), from its name as text, or from
both through one of the fusion heads of :mod:`xlm_course.models.fusion`. The text vectors come from the frozen,
jointly pretrained encoder; training uses English names only, so testing with names in another language is
zero-shot for the text side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_emoji_names
from ..models.source import EncoderSource, embed
from ..runtime import batched
from ..training import History, RunConfig, epoch_rows, train
from ..transfer import ClassificationTask
from ..validation import check_positive_numbers


@dataclass(frozen=True)
class MultimodalConfig(RunConfig):
    """Training of a fusion classifier or an image–text aligner (everything but the text encoder trains)."""

    steps: int = 400  # the small image or audio encoder and the head learn from scratch: more than fine-tuning
    batch_size: int = 64  # 64 emoji a step: with under 2,000 training emoji, an epoch is ~30 steps
    learning_rate: float = 2e-3  # a from-scratch CNN and an MLP head take a larger rate than a pretrained encoder
    warmup_steps: int = 20  # a twentieth of the steps: no pretrained weights to protect from a first big step


@dataclass(frozen=True)
class AlignerConfig(MultimodalConfig):
    """Training of an image–text aligner (chapter 3.6): :class:`MultimodalConfig` and InfoNCE's temperature."""

    temperature: float = 0.07  # CLIP's initial τ {cite}`radford2021clip`

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_numbers(self, "temperature")


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


def text_vectors(source: EncoderSource, texts: Sequence[str], languages: Sequence[str],
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Unit-length sentence vectors of ``texts`` from ``source``'s frozen encoder (one row each, computed on
    ``device``, returned on the CPU)."""
    return embed(source.encoder(), source, list(texts), list(languages), device=device)


def check_rows(text: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> None:
    sizes = {len(text), len(inputs)} | ({len(labels)} if labels is not None else set())
    if len(sizes) != 1 or not len(text):
        raise ValueError(f"text, inputs (and labels) need the same non-zero number of rows, got "
                         f"{len(text)}, {len(inputs)}" + (f", {len(labels)}" if labels is not None else ""))


def batches(count: int, config: MultimodalConfig):
    """Row indices of each step: shuffled epochs, a pure function of (seed, step) (:func:`~xlm_course.training.epoch_rows`)."""

    def rows(step: int) -> torch.Tensor:
        return torch.tensor(epoch_rows(count, config.batch_size, config.seed, step), dtype=torch.long)

    return rows


def train_classifier(model: nn.Module, text: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor,
                     config: MultimodalConfig = MultimodalConfig()) -> History:
    """Train ``model(text, inputs) -> logits`` with cross-entropy on the given rows."""
    check_rows(text, inputs, labels)
    rows = batches(len(labels), config)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = rows(step)
        return {"text": text[chosen], "inputs": inputs[chosen], "labels": labels[chosen]}

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": F.cross_entropy(model(batch["text"], batch["inputs"]), batch["labels"])}

    return train(model, loss_fn, batch_fn, config.training(progress=False))


def predict(model: nn.Module, text: torch.Tensor, inputs: torch.Tensor, batch_size: int = 512,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Predicted label of each row (computed on ``device``, default the one setup chose; returned on the CPU)."""
    check_rows(text, inputs)

    def step(rows: slice, device: torch.device) -> torch.Tensor:
        return model(text[rows].to(device), inputs[rows].to(device)).argmax(-1).cpu()

    return torch.cat(batched(model, len(text), batch_size, step, device))


def accuracy_by_language(model: nn.Module, text_by_language: Mapping[str, torch.Tensor], inputs: torch.Tensor,
                         labels: torch.Tensor, device: torch.device | str | None = None) -> pd.Series:
    """Accuracy with the text side in each language (the images or sounds are the same rows every time)."""
    for text in text_by_language.values():
        check_rows(text, inputs, labels)
    return pd.Series({lang: float((predict(model, text, inputs, device=device) == labels.cpu()).float().mean())
                      for lang, text in text_by_language.items()}, name="accuracy")


def encode_tokens(encoder: nn.Module, inputs: torch.Tensor, batch_size: int = 512,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """The (frozen) encoder's tokens for every input, computed once on ``device`` (float32, on the CPU):
    fusion heads then train on these."""
    if not len(inputs):
        raise ValueError("inputs is empty")

    def step(rows: slice, device: torch.device) -> torch.Tensor:
        return encoder(inputs[rows].to(device)).float().cpu()

    return torch.cat(batched(encoder, len(inputs), batch_size, step, device))
