"""Joint multilingual pretraining of a tiny XLM-R-style encoder: MLM + TLM + λ·L_cross (chapter 3).

:func:`prepare_data` builds everything from the real corpora of chapter 1: the concept splits, the shared
tokenizer (trained on α-sampled training text), the monolingual training texts, and the parallel pairs
(Django UI messages and emoji names, English ↔ each language) for TLM and the contrastive loss. Held-out UI
messages are kept for retrieval. :func:`pretrain` trains an encoder for a :class:`PretrainingSetup`, and caches
it on disk under a key of that setup, so later chapters load it instead of training it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

import datasets
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase, XLMRobertaForMaskedLM

from .cache import cached, is_cached
from .data import (
    COURSE_LANGUAGES,
    EMOJI_LANGUAGES,
    LanguageBalancedSampler,
    load_corpus,
    load_emoji_names,
    load_ui_messages,
    split_by_concept,
)
from .data.corpus import parallel_pairs
from .models.encoder import build_encoder, encoder_config
from .models.source import EncoderSource, embed, sentence_embeddings
from .objectives import info_nce, joint_objective, masked_lm_loss
from .ranking import retrieval_table
from .runtime import get_profile, resolve
from .text import train_tokenizer
from .text.inputs import POSITION_OFFSET, encode_ids, tlm_ids, tokenize
from .text.masking import mask_batch
from .training import History, TrainingConfig, step_generator, step_random, train
from .validation import check_fraction, check_positive_ints, check_positive_numbers

OBJECTIVES: tuple[str, ...] = ("mlm", "tlm", "cross")
PAIR_SOURCES: tuple[str, ...] = ("ui", "emoji")  # Django's UI messages; the names of the *training* emoji
# Part of every cache key: bump it when the data, tokenizer or training code changes what a setup produces,
# so that a cache written by older code is never loaded as if it were current.
RECIPE_VERSION = 3
# Pair rows drawn per contrastive pair wanted: a batch needs batch_size distinct concepts, and a few concepts
# (emoji names, short UI messages) occur in several languages. Four draws a pair fill it at the first try in every
# run of the course; when they do not, more rounds are drawn from the same step's generator.
OVERSAMPLING = 4


def check_pair_sources(pair_sources: tuple[str, ...]) -> None:
    """Raise a ValueError unless ``pair_sources`` is a non-empty tuple taken from :data:`PAIR_SOURCES`."""
    if not isinstance(pair_sources, tuple) or not pair_sources or set(pair_sources) - set(PAIR_SOURCES):
        raise ValueError(f"pair_sources is a non-empty tuple taken from {PAIR_SOURCES}, got {pair_sources!r}")


@dataclass(frozen=True)
class PretrainingSetup:
    """Everything that defines a pretraining run; ``None`` sizes come from the profile.

    It is the run's cache key (:func:`pretrain`), so it holds what changes the weights and nothing else: not the
    device or the progress bar, which :class:`~xlm_course.training.RunConfig` also carries. That is why it is its
    own dataclass and hands the loop a :class:`~xlm_course.training.TrainingConfig` through :meth:`training`.
    """

    objectives: tuple[str, ...] = OBJECTIVES  # the three terms of 3.2; chapter 3.3 leaves them out one at a time
    lam: float = 3.0  # λ, the weight of L_cross: 3.3 sets 3 beside 1, 4.1 sweeps it
    alpha: float = 0.3  # the language sampler's α (data.sampling), XLM-R's: low-resource languages up-sampled
    temperature: float = 0.1  # InfoNCE's τ for the translation pairs (chapter 4 derives what it does)
    languages: tuple[str, ...] = COURSE_LANGUAGES  # English first: the pivot of every parallel pair
    steps: int | None = None  # the profile's train_steps: a few minutes of one CPU core in ci
    batch_size: int | None = None  # contrastive pairs per step (the in-batch negatives)
    masked_batch_size: int | None = None  # texts (MLM) and pairs (TLM) per step; default: half of batch_size
    vocab_size: int | None = None  # the profile's: the tokenizer is trained for it (text.tokenizer)
    max_length: int | None = None  # tokens per sentence; a TLM pair holds two
    pair_sources: tuple[str, ...] = ("ui",)  # PAIR_SOURCES; the applications add "emoji" (transfer.encoders)
    dropout: float = 0.1  # BERT's and XLM-R's
    learning_rate: float = 1e-3  # a tiny encoder from scratch: twice the base's fine-tuning rate
    warmup_steps: int = 50  # Adam's first variance estimates are noisy; a few percent of the profile's steps
    seed: int = 0  # data split, sampling, masking, initialisation and dropout
    profile: str = field(default_factory=lambda: get_profile().pretrains_as)  # hub pretrains as ci

    def __post_init__(self) -> None:
        unknown = [name for name in self.objectives if name not in OBJECTIVES]
        if unknown or not self.objectives or "mlm" not in self.objectives:
            raise ValueError(f"objectives must include 'mlm' and be taken from {OBJECTIVES}, got {self.objectives}")
        if "cross" in self.objectives and not self.lam > 0:
            raise ValueError("with the 'cross' objective λ must be positive; leave 'cross' out for λ = 0")
        if self.languages[0] != "en":
            raise ValueError("the first language is the pivot of the parallel pairs and must be 'en'")
        check_positive_numbers(self, "alpha", "temperature", "learning_rate")
        check_fraction("alpha", self.alpha)
        check_fraction("dropout", self.dropout, closed=False)
        check_pair_sources(self.pair_sources)
        sizes = ("steps", "batch_size", "masked_batch_size", "vocab_size", "max_length")
        check_positive_ints(self, *sizes, optional=sizes)  # None: the profile's value

    def resolved(self) -> PretrainingSetup:
        profile = get_profile(self.profile)
        batch_size = self.batch_size or profile.batch_size
        return replace(self, steps=self.steps or profile.train_steps, batch_size=batch_size,
                       max_length=self.max_length or profile.max_seq_len,
                       masked_batch_size=self.masked_batch_size or max(1, batch_size // 2),
                       vocab_size=self.vocab_size or profile.vocab_size)

    def training(self, **loop: object) -> TrainingConfig:
        """The loop's config for this setup (resolved sizes), with ``loop`` options such as ``device``."""
        setup = self.resolved()
        return TrainingConfig(steps=setup.steps, batch_size=setup.batch_size, learning_rate=setup.learning_rate,
                              warmup_steps=min(setup.warmup_steps, setup.steps), max_length=setup.max_length,
                              seed=setup.seed, **loop)


@dataclass
class PretrainingData:
    """Tokenizer, language ids, training texts and pairs, held-out pairs for retrieval."""

    tokenizer: PreTrainedTokenizerBase
    language_ids: dict[str, int]
    monolingual: datasets.Dataset
    train_pairs: datasets.Dataset
    dev_pairs: dict[str, tuple[list[str], list[str]]]
    test_pairs: dict[str, tuple[list[str], list[str]]]


def _pairs(dataset: datasets.Dataset, languages: tuple[str, ...]) -> list[dict[str, str]]:
    rows = []
    present = set(dataset.select_columns(["lang"]).to_dict()["lang"])
    for lang in languages[1:]:
        if lang in present:
            pairs = parallel_pairs(dataset, languages[0], lang).to_dict()
            rows += [{"concept": c, "source": s, "target": t, "lang": lang}
                     for c, s, t in zip(pairs["concept"], pairs["source"], pairs["target"], strict=True)]
    return rows


def held_out_pairs(dataset: datasets.Dataset, languages: tuple[str, ...]) -> dict[str, tuple[list[str], list[str]]]:
    """Held-out pairs per language, without repeated sources or targets (a repeat makes top-1 ambiguous)."""
    held_out = {}
    for lang in languages[1:]:
        pairs = parallel_pairs(dataset, languages[0], lang).to_dict()
        sources, targets, seen_sources, seen_targets = [], [], set(), set()
        for source, target in zip(pairs["source"], pairs["target"], strict=True):
            if source.casefold() not in seen_sources and target.casefold() not in seen_targets:
                seen_sources.add(source.casefold())
                seen_targets.add(target.casefold())
                sources.append(source)
                targets.append(target)
        held_out[lang] = (sources, targets)
    return held_out


@cache
def _training_text(languages: tuple[str, ...], vocab_size: int, alpha: float,
                   seed: int) -> tuple[datasets.Dataset, PreTrainedTokenizerBase]:
    """The training split of the corpus and the tokenizer trained on it (shared by setups that differ only in
    their parallel data)."""
    train_texts = split_by_concept(load_corpus(list(languages)), seed=seed)["train"]
    order = LanguageBalancedSampler(train_texts["lang"], alpha=alpha, seed=seed)
    texts = train_texts["text"]
    return train_texts, train_tokenizer([texts[i] for i in order], vocab_size=vocab_size)


@cache
def prepare_data(languages: tuple[str, ...] = COURSE_LANGUAGES, vocab_size: int = 8000, alpha: float = 0.3,
                 seed: int = 0, pair_sources: tuple[str, ...] = ("ui",)) -> PretrainingData:
    """The training material of chapter 3, split by concept so that no held-out message is trained on."""
    train_texts, tokenizer = _training_text(languages, vocab_size, alpha, seed)
    ui = split_by_concept(load_ui_messages(list(languages)), seed=seed)
    check_pair_sources(pair_sources)
    train_pairs = _pairs(ui["train"], languages) if "ui" in pair_sources else []
    if "emoji" in pair_sources:
        emoji_languages = tuple(lang for lang in languages if lang in EMOJI_LANGUAGES)
        emoji = split_by_concept(load_emoji_names(list(emoji_languages)), seed=seed)
        train_pairs += _pairs(emoji["train"], emoji_languages)
    return PretrainingData(
        tokenizer=tokenizer,
        language_ids={lang: index for index, lang in enumerate(languages)},
        monolingual=train_texts,
        train_pairs=datasets.Dataset.from_list(train_pairs),
        dev_pairs=held_out_pairs(ui["dev"], languages),
        test_pairs=held_out_pairs(ui["test"], languages),
    )


def data_for(setup: PretrainingSetup) -> PretrainingData:
    """The (cached) training material of ``setup``."""
    setup = setup.resolved()
    return prepare_data(setup.languages, setup.vocab_size, setup.alpha, setup.seed, setup.pair_sources)


class PretrainingTask:
    """The batches and the loss of one pretraining setup: ``batch_fn(step)`` and ``loss_fn(model, batch)``."""

    def __init__(self, setup: PretrainingSetup, data: PretrainingData) -> None:
        self.setup, self.data = setup.resolved(), data
        self.mono_sampler = LanguageBalancedSampler(data.monolingual["lang"], alpha=setup.alpha, seed=setup.seed)
        self.pair_sampler = LanguageBalancedSampler(data.train_pairs["lang"], alpha=setup.alpha, seed=setup.seed)
        # Plain lists: indexing a datasets column row by row costs about 0.2 ms a row, most of a step's batch.
        columns = data.monolingual.select_columns(["text", "lang"]).to_dict()
        self.mono_texts, self.mono_langs = columns["text"], columns["lang"]
        pairs = data.train_pairs.to_dict() if len(data.train_pairs) else {}
        self.sources, self.targets, self.pair_langs, self.concepts = (pairs.get(key, []) for key in
                                                                      ("source", "target", "lang", "concept"))
        # Only the tokenizer, config shape and language ids matter for encoding: the weights are the model's.
        self.source = EncoderSource("pretraining", data.tokenizer, encoder_config(
            len(data.tokenizer), self.setup.languages, get_profile(self.setup.profile), dropout=self.setup.dropout,
            max_position_embeddings=self.setup.max_length + POSITION_OFFSET), language_ids=data.language_ids)
        # Tokenised once for the whole run; each step only pads the rows it draws (text.inputs says why).
        length = self.setup.max_length
        self.mono_ids = tokenize(data.tokenizer, self.mono_texts, length)
        self.source_ids = tokenize(data.tokenizer, self.sources, length) if len(self.sources) else []
        self.target_ids = tokenize(data.tokenizer, self.targets, length) if len(self.targets) else []

    def batch_fn(self, step: int) -> dict[str, dict[str, torch.Tensor]]:
        """The batch of ``step``, one dict of model inputs per part: ``"mlm"`` (masked monolingual texts),
        ``"tlm"`` (masked translation pairs), ``"source"`` and ``"target"`` (the two sides of the contrastive
        pairs). A pure function of (seed, step), so that training can resume exactly."""
        setup, tokenizer, ids = self.setup, self.data.tokenizer, self.data.language_ids
        pad, sep = tokenizer.pad_token_id, tokenizer.sep_token_id
        generator, rng = step_generator(setup.seed, step), step_random(setup.seed, step)
        rows = self.mono_sampler.draw(setup.masked_batch_size, generator).tolist()
        batch = {"mlm": mask_batch(encode_ids([self.mono_ids[i] for i in rows], [self.mono_langs[i] for i in rows],
                                              ids, pad), tokenizer, generator)}
        if "tlm" in setup.objectives or "cross" in setup.objectives:
            pairs = self._distinct_concepts(generator)
            sources = [self.source_ids[i] for i in pairs]
            targets = [self.target_ids[i] for i in pairs]
            langs = [self.pair_langs[i] for i in pairs]
            english = ["en"] * len(pairs)
        if "tlm" in setup.objectives:
            n = setup.masked_batch_size
            flip = [rng.random() < 0.5 for _ in pairs[:n]]  # either language may come first
            first = [t if f else s for s, t, f in zip(sources[:n], targets[:n], flip, strict=True)]
            second = [s if f else t for s, t, f in zip(sources[:n], targets[:n], flip, strict=True)]
            first_langs = [lang if f else "en" for lang, f in zip(langs[:n], flip, strict=True)]
            second_langs = ["en" if f else lang for lang, f in zip(langs[:n], flip, strict=True)]
            tlm = tlm_ids(first, second, first_langs, second_langs, ids, sep, pad)
            batch["tlm"] = mask_batch(tlm, tokenizer, generator)
        if "cross" in setup.objectives:
            batch["source"] = encode_ids(sources, english, ids, pad)
            batch["target"] = encode_ids(targets, langs, ids, pad)
        return batch

    def _distinct_concepts(self, generator: torch.Generator) -> list[int]:
        """Pair rows with distinct concepts, so no in-batch negative is secretly a positive."""
        wanted = self.setup.batch_size
        if len(set(self.concepts)) < wanted:
            raise ValueError(f"the training pairs hold {len(set(self.concepts))} concepts, too few for "
                             f"{wanted} distinct ones a batch: lower batch_size or add pair_sources")
        chosen, seen = [], set()
        while len(chosen) < wanted:
            for index in self.pair_sampler.draw(OVERSAMPLING * wanted, generator).tolist():
                if self.concepts[index] not in seen:
                    seen.add(self.concepts[index])
                    chosen.append(index)
                    if len(chosen) == wanted:
                        break
        return chosen

    def loss_fn(self, model: XLMRobertaForMaskedLM, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The joint objective and each of its terms. Written out in chapter 3.2."""

        losses = {"mlm": masked_lm_loss(model, batch["mlm"])}
        if "tlm" in self.setup.objectives:
            losses["tlm"] = masked_lm_loss(model, batch["tlm"])
        if "cross" in self.setup.objectives:
            losses["cross"] = info_nce(sentence_embeddings(model, batch["source"]),
                                       sentence_embeddings(model, batch["target"]), self.setup.temperature)
        losses["loss"] = joint_objective(losses["mlm"], losses.get("tlm"), losses.get("cross"), self.setup.lam)
        return losses

    def embedder(self, model: XLMRobertaForMaskedLM, device: torch.device | str | None = None,
                 precision: str | None = None) -> Callable[[Sequence[str], str], torch.Tensor]:
        """``embed(texts, lang)`` for :func:`xlm_course.ranking.retrieval_table`: :func:`~xlm_course.models.source.embed`
        with this task's tokenizer, language ids and length, run on ``device`` (default: the one setup chose)."""

        def embed_texts(texts: Sequence[str], lang: str) -> torch.Tensor:
            return embed(model, self.source, list(texts), [lang] * len(texts), self.setup.max_length, device=device,
                         precision=precision)

        return embed_texts

    def retrieval(self, model: XLMRobertaForMaskedLM, split: str = "test", device: torch.device | str | None = None,
                  precision: str | None = None):
        """Top-1 retrieval of the held-out pairs of ``split`` (``test`` or ``dev``), per language."""
        if split not in ("test", "dev"):
            raise ValueError(f"split must be 'test' or 'dev', got {split!r}")
        pairs = self.data.test_pairs if split == "test" else self.data.dev_pairs
        return retrieval_table(self.embedder(model, device, precision), pairs)


@dataclass
class Pretrained:
    """A pretrained encoder with its tokenizer, task (data and batches) and training history."""

    model: XLMRobertaForMaskedLM
    tokenizer: PreTrainedTokenizerBase
    task: PretrainingTask
    history: History
    folder: Path | None = None

    def source(self, name: str, random_init: bool = False) -> EncoderSource:
        """This encoder as a source for the applications (chapters 3.4, 6), with its language ids; with
        ``random_init`` a random one of the same shape, the baseline every result is compared with."""
        return EncoderSource.from_model(name, self.model, self.tokenizer, self.task.data.language_ids, random_init)


def _cache_config(setup: PretrainingSetup, precision: str) -> dict:
    return {"recipe": RECIPE_VERSION, "precision": precision, **asdict(setup)}


def is_pretrained(setup: PretrainingSetup = PretrainingSetup(), precision: str | None = None) -> bool:
    """Whether :func:`pretrain` would load ``setup``'s encoder from the cache rather than train it (the grader
    asks before any student's notebook runs: chapter 0, instructors)."""
    _, precision = resolve(None, precision)
    return is_cached("pretrained", _cache_config(setup.resolved(), precision))


def pretrain(setup: PretrainingSetup = PretrainingSetup(), use_cache: bool = True, progress: bool = True,
             eval_every: int | None = None, device: torch.device | str | None = None,
             precision: str | None = None) -> Pretrained:
    """Pretrain (or load from the cache) the encoder of ``setup`` on ``device`` in ``precision`` (default: what
    :func:`~xlm_course.runtime.setup` chose). The precision is part of the cache key: a bf16 run is a different
    artefact from an fp32 one. The model is returned on the chosen device."""
    setup = setup.resolved()
    device, precision = resolve(device, precision)
    data = data_for(setup)
    task = PretrainingTask(setup, data)

    def run() -> tuple[XLMRobertaForMaskedLM, History]:
        model = build_encoder(task.source.config, seed=setup.seed)
        def retrieval(model: XLMRobertaForMaskedLM) -> dict[str, float]:
            return {"retrieval": task.retrieval(model, "dev", device, precision)["mean"].mean()}

        evaluate = retrieval if eval_every else None
        history = train(model, task.loss_fn, task.batch_fn,
                        setup.training(device=str(device), precision=precision, eval_every=eval_every,
                                       progress=progress), evaluate=evaluate)
        return model, history

    if not use_cache:
        model, history = run()
        return Pretrained(model, data.tokenizer, task, history)

    def build(folder: Path) -> None:
        model, history = run()
        model.save_pretrained(folder)
        data.tokenizer.save_pretrained(folder)
        (folder / "history.json").write_text(json.dumps({"losses": history.losses,
                                                         "evaluations": history.evaluations}))

    folder = cached("pretrained", _cache_config(setup, precision), build)
    model = XLMRobertaForMaskedLM.from_pretrained(folder).to(device).eval()
    saved = json.loads((folder / "history.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder)  # the tokenizer the model was trained with
    task = PretrainingTask(setup, replace(data, tokenizer=tokenizer))
    return Pretrained(model, tokenizer, task, History(saved["losses"], saved["evaluations"]), folder)
