"""How well a shared vocabulary serves each language: fertility, unknown rate, byte-fallback rate (chapter 1).

*Fertility* is the number of subword tokens per unit of text. A language the vocabulary serves badly is cut
into many short pieces: its sequences are longer (more compute, less context per window) and each piece
carries less meaning (Rust et al. 2021, "How Good is Your Tokenizer?"). Words are whitespace-separated, which
is meaningless for Chinese and Japanese (no spaces), so tokens per character is reported beside it.
"""

from __future__ import annotations

import datasets
import pandas as pd
from transformers import PreTrainedTokenizerBase

from .tokenizer import BYTE_PIECES

_BYTES = frozenset(BYTE_PIECES)


def fertility_table(tokenizer: PreTrainedTokenizerBase, dataset: datasets.Dataset, text_column: str = "text",
                    lang_column: str = "lang") -> pd.DataFrame:
    """One row per language: texts, tokens per word, tokens per character, ``<unk>`` rate, byte-piece rate.

    Rates are shares of all tokens of that language; special tokens (``<s>``, ``</s>``) are not counted.
    """
    for column in (text_column, lang_column):
        if column not in dataset.column_names:
            raise ValueError(f"dataset has no column {column!r}; its columns are {dataset.column_names}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty: nothing to measure")
    texts, languages = list(dataset[text_column]), list(dataset[lang_column])
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    unk_id = tokenizer.unk_token_id
    byte_ids = {tokenizer.convert_tokens_to_ids(piece) for piece in _BYTES if piece in tokenizer.get_vocab()}
    rows: dict[str, dict[str, float]] = {}
    for text, lang, ids in zip(texts, languages, encoded, strict=True):
        row = rows.setdefault(lang, {"texts": 0, "words": 0, "chars": 0, "tokens": 0, "unk": 0, "bytes": 0})
        row["texts"] += 1
        row["words"] += len(text.split())
        row["chars"] += sum(not char.isspace() for char in text)
        row["tokens"] += len(ids)
        row["unk"] += sum(token == unk_id for token in ids)
        row["bytes"] += sum(token in byte_ids for token in ids)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "lang"
    return pd.DataFrame({
        "texts": table["texts"].astype(int),
        "tokens_per_word": table["tokens"] / table["words"].clip(lower=1),
        "tokens_per_char": table["tokens"] / table["chars"].clip(lower=1),
        "unk_rate": table["unk"] / table["tokens"].clip(lower=1),
        "byte_rate": table["bytes"] / table["tokens"].clip(lower=1),
    }).sort_index()


def token_premium(tokenizer: PreTrainedTokenizerBase, parallel: datasets.Dataset, languages: list[str] | tuple[str, ...],
                  pivot: str = "en") -> pd.Series:
    """Tokens each language needs for the messages it shares with ``pivot``, over the pivot's tokens (chapter 1.2,
    where it is written out). Parallel text says the same thing in every language, so unlike tokens per word
    this is comparable across scripts. ``parallel`` has ``concept``, ``lang`` and ``text`` columns."""
    for column in ("concept", "lang", "text"):
        if column not in parallel.column_names:
            raise ValueError(f"parallel needs a {column!r} column; its columns are {parallel.column_names}")
    lengths: dict[str, dict[str, int]] = {}
    for concept, lang, text in zip(parallel["concept"], parallel["lang"], parallel["text"], strict=True):
        lengths.setdefault(concept, {})[lang] = len(tokenizer.tokenize(text))
    premium = {}
    for lang in languages:
        shared = [row for row in lengths.values() if lang in row and pivot in row]
        if not shared:
            raise ValueError(f"no message of {lang!r} has a {pivot!r} translation in parallel")
        premium[lang] = sum(row[lang] for row in shared) / sum(row[pivot] for row in shared)
    return pd.Series(premium).sort_values()
