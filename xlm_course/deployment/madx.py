"""MAD-X: a language adapter per language, one task adapter, swapped at test time (chapter 8.2).

MAD-X {cite}`pfeiffer2020madx` splits what a frozen multilingual encoder must learn into two kinds of small
modules, stacked after the feed-forward sub-layer of every transformer layer:

1. a **language adapter** per language, trained with masked language modelling on that language's unlabelled
   text (the encoder frozen): it specialises the shared representation to one language;
2. a **task adapter**, trained on the labelled source language *on top of* the source language's adapter (the
   encoder and every language adapter frozen): it learns the task, not the language;
3. at test time the source language adapter is **swapped** for the target language's; the task adapter stays.

The paper's invertible adapters on the embeddings are left out: the course's encoder shares one vocabulary and
already gives each language its own language embedding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..models.source import EncoderSource
from ..objectives import masked_lm_loss
from ..text.inputs import encode
from ..text.masking import mask_batch
from ..training import History, RunConfig, step_generator, step_rows, train
from ..transfer import ClassificationTask, FineTuneConfig, evaluate, finetune
from ..validation import check_positive_int
from .adapters import Bottleneck, encoder_layers


class LanguageAndTaskAdapters(nn.Module):
    """A frozen projection, then the active language's adapter, then (if there is one) the task adapter."""

    def __init__(self, projection: nn.Linear, languages: Sequence[str], language_bottleneck: int,
                 task_bottleneck: int | None) -> None:
        super().__init__()
        languages = list(languages)
        if not languages or len(set(languages)) != len(languages):
            raise ValueError(f"languages must be distinct and at least one, got {languages!r}")
        self.projection = projection
        self.projection.requires_grad_(False)
        hidden = projection.out_features
        self.languages = nn.ModuleDict({lang: Bottleneck(hidden, language_bottleneck) for lang in languages})
        self.task = Bottleneck(hidden, task_bottleneck) if task_bottleneck is not None else None
        self.active = languages[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.languages[self.active](self.projection(x))
        return self.task(h) if self.task is not None else h


def add_language_adapters(model: PreTrainedModel, languages: Sequence[str], language_bottleneck: int = 64,
                          task_bottleneck: int | None = None) -> PreTrainedModel:
    """Put a :class:`LanguageAndTaskAdapters` after the feed-forward output projection of every layer (in
    place); the first language is active. Nothing is frozen here: see :func:`train_only`."""
    for layer in encoder_layers(model):
        if isinstance(layer.output.dense, LanguageAndTaskAdapters):
            raise ValueError("the model already has language adapters")
        layer.output.dense = LanguageAndTaskAdapters(layer.output.dense, languages, language_bottleneck,
                                                     task_bottleneck)
    return model


def _stacks(model: nn.Module) -> list[LanguageAndTaskAdapters]:
    stacks = [module for module in model.modules() if isinstance(module, LanguageAndTaskAdapters)]
    if not stacks:
        raise ValueError("the model has no language adapters; call add_language_adapters first")
    return stacks


def adapter_languages(model: nn.Module) -> list[str]:
    """The languages the model has an adapter for."""
    return list(_stacks(model)[0].languages)


def set_language(model: nn.Module, lang: str) -> None:
    """Make ``lang``'s adapter the active one in every layer (the swap of MAD-X step 3)."""
    known = adapter_languages(model)
    if lang not in known:
        raise ValueError(f"no adapter for {lang!r}; the model has adapters for {known}")
    for stack in _stacks(model):
        stack.active = lang


def train_only(model: nn.Module, language: str | None = None, task: bool = False,
               head: str | None = None) -> list[str]:
    """Freeze everything except ``language``'s adapter, the task adapter (``task``) and the parameters under
    ``head`` (e.g. ``"classifier"``). Returns the names of the parameters left trainable."""
    if language is not None and language not in adapter_languages(model):
        raise ValueError(f"no adapter for {language!r}; the model has adapters for {adapter_languages(model)}")
    kept: set[int] = set()
    for stack in _stacks(model):  # the adapters, found by module type (never by a part of a name)
        if language is not None:
            kept |= {id(parameter) for parameter in stack.languages[language].parameters()}
        if task and stack.task is not None:
            kept |= {id(parameter) for parameter in stack.task.parameters()}
    if head is not None:
        try:
            kept |= {id(parameter) for parameter in model.get_submodule(head).parameters()}
        except AttributeError:
            raise ValueError(f"the model has no module {head!r} to train as the head; its top-level modules are "
                             f"{[name for name, _ in model.named_children()]}") from None
    trainable = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(id(parameter) in kept)
        if id(parameter) in kept:
            trainable.append(name)
    if not trainable:
        raise ValueError("nothing left to train: name a language, the task adapter or a head")
    return trainable


def language_adapter_weights(model: nn.Module, languages: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """The language adapters' weights (all, or ``languages``'), named so that any model with the same encoder
    and :func:`add_language_adapters` can load them, whatever its head."""
    wanted = set(adapter_languages(model) if languages is None else languages)
    return {name: value.detach().clone() for name, value in model.state_dict().items()
            if ".languages." in name and name.split(".languages.")[1].split(".")[0] in wanted}


def load_language_adapters(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Load weights from :func:`language_adapter_weights` into ``model``; every one must find its place."""
    own = model.state_dict()
    missing = sorted(set(weights) - set(own))
    if missing:
        raise ValueError(f"the model has no place for {missing[:3]}... ({len(missing)} weights); does it have "
                         "adapters for the same languages and the same encoder?")
    mismatched = [name for name, value in weights.items() if own[name].shape != value.shape]
    if mismatched:
        raise ValueError(f"shapes differ for {mismatched[:3]} (different bottleneck or hidden size?)")
    model.load_state_dict(weights, strict=False)


@dataclass(frozen=True)
class LanguageAdapterConfig(RunConfig):
    """Masked language modelling of one language adapter: the encoder and the MLM head stay frozen."""

    learning_rate: float = 5e-3  # only the adapter trains, from a near-identity start: ten times the base's rate
    bottleneck: int = 64  # m of each language adapter; the task adapter is smaller (madx_prepare's 16)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("bottleneck", self.bottleneck)


def train_language_adapters(mlm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                            language_ids: Mapping[str, int] | None, texts: Mapping[str, Sequence[str]],
                            config: LanguageAdapterConfig = LanguageAdapterConfig()
                            ) -> tuple[PreTrainedModel, dict[str, History]]:
    """MAD-X step 1: one adapter per language of ``texts`` (language → unlabelled texts), each trained with MLM
    on its own language while everything else is frozen.

    ``mlm`` (a masked language model, e.g. chapter 3's) is copied, not changed. Returns the copy with every
    language adapter, and each language's training history.
    """
    empty = [lang for lang, rows in texts.items() if not rows]
    if not texts or empty:
        raise ValueError(f"need unlabelled texts for at least one language; empty: {empty}")
    unknown = sorted(set(texts) - set(language_ids)) if language_ids is not None else []  # None: no language ids
    if unknown:
        raise ValueError(f"no language id for {unknown}; the encoder knows {sorted(language_ids)}")
    model = add_language_adapters(copy.deepcopy(mlm), list(texts), config.bottleneck)
    histories = {}
    for lang, rows in texts.items():
        rows = list(rows)
        set_language(model, lang)
        train_only(model, language=lang)

        def batch_fn(step: int, rows: list[str] = rows, lang: str = lang) -> dict[str, torch.Tensor]:
            generator = step_generator(config.seed, step)
            chosen = step_rows(len(rows), config.batch_size, generator)
            inputs = encode(tokenizer, [rows[i] for i in chosen], [lang] * len(chosen), language_ids,
                            config.max_length)
            return mask_batch(inputs, tokenizer, generator)

        histories[lang] = train(model, lambda model, batch: {"loss": masked_lm_loss(model, batch)}, batch_fn,
                                config.training(progress=False))
    model.requires_grad_(False)
    return model.eval(), histories


def madx_prepare(adapters: PreTrainedModel, task_bottleneck: int = 16,
                 source_lang: str = "en") -> Callable[[PreTrainedModel], PreTrainedModel]:
    """MAD-X step 2 as a ``prepare`` for :func:`~xlm_course.transfer.finetune`: give a fresh classifier the
    trained language adapters of ``adapters`` and a new task adapter, activate ``source_lang`` and train only
    the task adapter and the head."""
    languages = adapter_languages(adapters)
    if source_lang not in languages:
        raise ValueError(f"no adapter for the source language {source_lang!r}; there are {languages}")
    stack = _stacks(adapters)[0]
    bottleneck = stack.languages[source_lang].down.out_features
    weights = language_adapter_weights(adapters)

    def prepare(model: PreTrainedModel) -> PreTrainedModel:
        add_language_adapters(model, languages, bottleneck, task_bottleneck)
        load_language_adapters(model, weights)
        set_language(model, source_lang)
        train_only(model, task=True, head="classifier")
        return model

    return prepare


def evaluate_swapping(model: PreTrainedModel, source: EncoderSource, task: ClassificationTask, split: str = "test",
                      swap: bool = True, source_lang: str = "en", max_length: int = 32,
                      device: torch.device | str | None = None, precision: str | None = None) -> pd.DataFrame:
    """MAD-X step 3: each language scored with its own adapter active (``swap``), or with the source
    language's adapter kept (``swap=False``, the ablation); one row per language as in
    :func:`~xlm_course.transfer.evaluate`."""
    languages = [lang for lang in task.languages if lang in adapter_languages(model)]
    frames = []
    for lang in languages:
        set_language(model, lang if swap else source_lang)
        frames.append(evaluate(model, source, task, split, [lang], max_length, device, precision))
    set_language(model, source_lang)
    return pd.concat(frames)


def madx_table(source: EncoderSource, task: ClassificationTask, adapters: PreTrainedModel,
               config: FineTuneConfig = FineTuneConfig(), task_bottleneck: int = 16,
               seeds: Sequence[int] = (0, 1, 2), source_lang: str = "en", metric: str = "accuracy") -> pd.DataFrame:
    """Train a MAD-X task adapter on ``source_lang`` once per seed and test every language with the language
    adapter swapped and kept; long format as :func:`~xlm_course.transfer.zero_shot_table`."""
    rows, train_rows = [], task.rows("train", [source_lang])
    prepare = madx_prepare(adapters, task_bottleneck, source_lang)
    for seed in seeds:
        tuned = finetune(source, task, train_rows, replace(config, seed=seed, eval_every=None), prepare=prepare)
        for name, swap in (("MAD-X", True), ("MAD-X, source adapter kept", False)):
            table = evaluate_swapping(tuned.model, source, task, "test", swap, source_lang, config.max_length,
                                      config.device, config.precision)
            rows += [{"encoder": name, "seed": seed, "lang": lang, metric: value}
                     for lang, value in table[metric].items()]
    return pd.DataFrame(rows)
