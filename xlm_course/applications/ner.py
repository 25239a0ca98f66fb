"""Cross-lingual named-entity recognition on template sentences with real CLDR names (chapter 6.2).

No multilingual NER corpus installs from PyPI, so this task is *built*, and says so: a few short form-like
templates per language, written for this course ("Country of residence: {LOC}.", "居住国家：{LOC}。"), are filled
with real names from the Unicode CLDR via ``babel`` — territories (LOC), languages (LANG) and currencies (CUR), each
in the template's language. The entities are split by code (a country is in train or in test, in every language),
so test sentences name entities never seen in fine-tuning. What it cannot teach: real entity contexts, ambiguity
("Jordan" the country or the person), nested entities, long documents. Treat scores as a sanity check of the
mechanics of cross-lingual token classification, not as NER quality.

Labels are BIO tags per *word*; a word split into several sub-word tokens is labelled on its first token and
−100 on the others, so the loss ignores them (the convention of the Hugging Face course).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pandas as pd
import torch
from seqeval.metrics import f1_score
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data import concept_split
from ..models.source import EncoderSource
from ..runtime import batched, to_device
from ..text.inputs import encode_ids
from ..text.masking import IGNORE_INDEX
from ..training import RunConfig, step_generator, step_rows, train

ENTITY_TYPES = ("LOC", "LANG", "CUR")
LABELS = ("O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")))

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("Country of residence: {LOC}.", "Languages spoken: {LANG} and {LANG}.", "All prices are shown in {CUR}.",
           "Destination: {LOC}. Payment: {CUR}.", "The guide speaks {LANG}.", "Shipping to {LOC} takes five days."),
    "fr": ("Pays de résidence : {LOC}.", "Langues parlées : {LANG} et {LANG}.", "Devise des prix : {CUR}.",
           "Destination : {LOC}. Paiement : {CUR}.", "Le guide parle {LANG}.",
           "Pays de livraison : {LOC}. Délai : cinq jours."),
    "de": ("Wohnsitzland: {LOC}.", "Gesprochene Sprachen: {LANG} und {LANG}.", "Alle Preise in der Währung {CUR}.",
           "Reiseziel: {LOC}. Zahlung: {CUR}.", "Der Reiseführer spricht {LANG}.",
           "Lieferland: {LOC}. Lieferzeit: fünf Tage."),
    "es": ("País de residencia: {LOC}.", "Idiomas hablados: {LANG} y {LANG}.", "Todos los precios se muestran en {CUR}.",
           "Destino: {LOC}. Pago: {CUR}.", "El guía habla {LANG}.", "País de envío: {LOC}. Plazo: cinco días."),
    "ru": ("Страна проживания: {LOC}.", "Языки: {LANG} и {LANG}.", "Валюта цен: {CUR}.",
           "Пункт назначения: {LOC}. Оплата: {CUR}.", "Язык гида: {LANG}.", "Страна доставки: {LOC}. Срок: пять дней."),
    "zh-Hans": ("居住国家：{LOC}。", "使用语言：{LANG}和{LANG}。", "所有价格均以{CUR}显示。", "目的地：{LOC}。付款方式：{CUR}。",
                "导游会说{LANG}。", "配送国家：{LOC}。配送时间：五天。"),
    "ja": ("居住国：{LOC}。", "使用言語：{LANG}と{LANG}。", "価格はすべて{CUR}で表示されます。", "目的地：{LOC}。支払い：{CUR}。",
           "ガイドは{LANG}を話します。", "配送先の国：{LOC}。配送期間：5日。"),
    "ar": ("بلد الإقامة: {LOC}.", "اللغات المستخدمة: {LANG}، {LANG}.", "تُعرض جميع الأسعار بعملة {CUR}.",
           "الوجهة: {LOC}. الدفع: {CUR}.", "يتحدث المرشد {LANG}.", "بلد الشحن: {LOC}. مدة التوصيل: خمسة أيام."),
}
NER_LANGUAGES: tuple[str, ...] = tuple(TEMPLATES)
_BABEL = {"zh-Hans": "zh_Hans"}
_PIECE = re.compile(r"\{(?:LOC|LANG|CUR)\}|\w+|[^\w\s]")


@dataclass(frozen=True)
class NERConfig(RunConfig):
    """Fine-tuning of a token classifier: the base's 300 steps of 32 random sentences, 30 of them warm-up."""


@dataclass(frozen=True)
class Sentence:
    """Words, whether a space follows each, and one BIO label per word."""

    lang: str
    words: tuple[str, ...]
    spaces: tuple[bool, ...]
    labels: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(word + (" " if space else "") for word, space in zip(self.words, self.spaces, strict=True))


@cache
def entity_names(lang: str) -> dict[str, dict[str, str]]:
    """CLDR names in ``lang``: {"LOC": {code: name}, "LANG": ..., "CUR": ...} (countries, 2-letter languages;
    names with dates or parenthesised qualifiers left out)."""
    from babel import Locale

    if lang not in TEMPLATES:
        raise ValueError(f"no NER templates for {lang!r}; the languages are {list(NER_LANGUAGES)}")
    locale = Locale.parse(_BABEL.get(lang, lang))

    def plain(names: Mapping[str, str]) -> dict[str, str]:  # no "(1968–2012)" or "(Burma)" qualifiers
        return {code: name for code, name in names.items() if not re.search(r"[\d(（]", name)}

    names = {
        "LOC": {code: name for code, name in locale.territories.items() if len(code) == 2 and code.isalpha()
                and code not in ("ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK")},
        "LANG": {code: name for code, name in locale.languages.items() if len(code) == 2},
        "CUR": dict(locale.currencies),
    }
    return {kind: plain(found) for kind, found in names.items()}


def entity_split(kind: str, code: str, seed: int = 0) -> str:
    """``train`` or ``test`` for an entity, the same in every language (dev entities join train)."""
    return "test" if concept_split(f"{kind}:{code}", seed=seed) == "test" else "train"


def _pieces(template: str) -> list[tuple[str, bool]]:
    pieces = []
    for match in _PIECE.finditer(template):
        space_after = match.end() < len(template) and template[match.end()].isspace()
        pieces.append((match.group(), space_after))
    return pieces


def make_sentences(lang: str, split: str, count: int, seed: int = 0) -> list[Sentence]:
    """``count`` sentences in ``lang`` whose entities all come from ``split`` (a fixed draw for a seed)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = entity_names(lang)
    pools = {kind: sorted((code, name) for code, name in names[kind].items()
                          if entity_split(kind, code, seed) == split) for kind in ENTITY_TYPES}
    rng = random.Random(f"{seed}:{lang}:{split}")
    sentences = []
    for _ in range(count):
        words, spaces, labels = [], [], []
        for piece, space in _pieces(rng.choice(TEMPLATES[lang])):
            kind = piece[1:-1] if piece.startswith("{") else None
            if kind is None:
                words.append(piece)
                spaces.append(space)
                labels.append("O")
                continue
            parts = rng.choice(pools[kind])[1].split()
            words += parts
            spaces += [True] * (len(parts) - 1) + [space]
            labels += [f"B-{kind}"] + [f"I-{kind}"] * (len(parts) - 1)
        sentences.append(Sentence(lang, tuple(words), tuple(spaces), tuple(labels)))
    return sentences


def _word_starts(sentence: Sentence) -> list[int]:
    starts, position = [], 0
    for word, space in zip(sentence.words, sentence.spaces, strict=True):
        starts.append(position)
        position += len(word) + space
    return starts


def token_word_ids(tokenizer: PreTrainedTokenizerBase, sentence: Sentence,
                   max_length: int = 32) -> tuple[list[int], list[int | None]]:
    """Token ids of the sentence, and for each token the word it *starts* (None for specials and continuations)."""
    encoded = tokenizer(sentence.text, return_offsets_mapping=True, truncation=True, max_length=max_length)
    starts = _word_starts(sentence)
    start_to_word = {start: index for index, start in enumerate(starts)}
    word_ids, seen = [], set()
    for begin, end in encoded["offset_mapping"]:
        if begin == end:  # special token
            word_ids.append(None)
            continue
        while begin < end and sentence.text[begin].isspace():  # offsets may include the word's leading space
            begin += 1
        word = start_to_word.get(begin)
        word_ids.append(word if word is not None and word not in seen else None)
        if word is not None:
            seen.add(word)
    return encoded["input_ids"], word_ids


def encode_sentences(source: EncoderSource, sentences: Sequence[Sentence],
                     max_length: int = 32) -> dict[str, torch.Tensor]:
    """A padded batch of ``source``'s inputs (:func:`~xlm_course.text.inputs.encode_ids`: its positions and
    language ids) with ``labels``: the word's label id on its first token, −100 on every other token."""
    index = {label: i for i, label in enumerate(LABELS)}
    rows, label_rows = [], []
    for sentence in sentences:
        ids, word_ids = token_word_ids(source.tokenizer, sentence, max_length)
        rows.append(ids)
        label_rows.append([IGNORE_INDEX if word is None else index[sentence.labels[word]] for word in word_ids])
    batch = encode_ids(rows, [sentence.lang for sentence in sentences], source.language_ids,
                       source.tokenizer.pad_token_id, source.position_offset)
    width = batch["input_ids"].shape[1]
    return {**batch, "labels": torch.tensor([row + [IGNORE_INDEX] * (width - len(row)) for row in label_rows])}


def predict_labels(model: PreTrainedModel, source: EncoderSource, sentences: Sequence[Sentence],
                   max_length: int = 32, batch_size: int = 128, device: torch.device | str | None = None,
                   precision: str | None = None) -> list[list[str]]:
    """BIO labels per word: the prediction at the word's first token (or at the token that covers it)."""

    def step(rows: slice, device: torch.device) -> torch.Tensor:
        batch = encode_sentences(source, sentences[rows], max_length)
        batch.pop("labels")
        return model(**to_device(batch, device)).logits.argmax(-1).cpu()

    predicted = []
    best_rows = batched(model, len(sentences), batch_size, step, device, precision)
    for start, best in zip(range(0, len(sentences), batch_size), best_rows, strict=True):
        for row, sentence in enumerate(sentences[start:start + batch_size]):
            _, word_ids = token_word_ids(source.tokenizer, sentence, max_length)
            by_word, last = {}, "O"
            for position, word in enumerate(word_ids):
                if word is not None:
                    by_word[word] = LABELS[int(best[row, position])]
            words = []
            for word in range(len(sentence.words)):
                last = by_word.get(word, last)  # a word inside another word's token takes that token's label
                words.append(last)
            predicted.append(words)
    return predicted


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Entity-level micro F1 (seqeval): an entity counts only if its type and exact span are right."""
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted, strict=True)):
        raise ValueError("gold and predicted must hold the same number of sentences, each of the same length")
    return float(f1_score([list(g) for g in gold], [list(p) for p in predicted]))


def label_shares(sentences: Sequence[Sentence]) -> dict[str, float]:
    """How often each label occurs among the words (to see the imbalance of O against entities)."""
    labels = [label for sentence in sentences for label in sentence.labels]
    values, counts = np.unique(labels, return_counts=True)
    return {str(value): float(count / len(labels)) for value, count in zip(values, counts, strict=True)}


def finetune_ner(source: EncoderSource, sentences: Sequence[Sentence],
                 config: NERConfig = NERConfig()) -> PreTrainedModel:
    """Fine-tune a token classifier on ``sentences`` (random batches, a pure function of seed and step), on the
    device and precision setup chose unless ``config`` names others; the model is returned there."""
    if not sentences:
        raise ValueError("sentences is empty")
    model = source.token_classifier(LABELS, seed=config.seed)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = step_rows(len(sentences), config.batch_size, step_generator(config.seed, step))
        return encode_sentences(source, [sentences[i] for i in chosen], config.max_length)

    train(model, lambda model, batch: {"loss": model(**batch).loss}, batch_fn, config.training(progress=False))
    return model.eval()


def ner_table(sources: Mapping[str, EncoderSource], train_sentences: Sequence[Sentence],
              tests: Mapping[str, Sequence[Sentence]], seeds: Sequence[int] = (0, 1, 2),
              config: NERConfig = NERConfig()) -> pd.DataFrame:
    """Entity F1 per (encoder, seed, language) after fine-tuning on ``train_sentences`` (long format)."""
    rows = []
    for name, source in sources.items():
        for seed in seeds:
            model = finetune_ner(source, train_sentences, replace(config, seed=seed))
            for lang, sentences in tests.items():
                predicted = predict_labels(model, source, sentences, config.max_length, device=config.device,
                                           precision=config.precision)
                rows.append({"encoder": name, "seed": seed, "lang": lang,
                             "f1": entity_f1([s.labels for s in sentences], predicted)})
    return pd.DataFrame(rows)
