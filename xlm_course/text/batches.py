"""Model inputs for monolingual (MLM) and parallel (TLM, contrastive) text (chapter 3).

* :func:`encode` tokenises sentences of known languages: ``input_ids``, ``attention_mask``, ``position_ids``
  (XLM-R numbering) and ``token_type_ids`` holding each sentence's *language id*.
* :func:`tlm_inputs` concatenates a sentence and its translation, ``<s> x </s></s> y </s>``, as XLM's
  translation language modelling does: positions restart at the second sentence and each half carries its own
  language id, so a word masked in one language can be recovered from the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from ..models.encoder import POSITION_OFFSET


def _language_ids(languages: Sequence[str], language_ids: Mapping[str, int]) -> list[int]:
    unknown = sorted(set(languages) - set(language_ids))
    if unknown:
        raise ValueError(f"no language id for {unknown}; the model knows {sorted(language_ids)}")
    return [language_ids[lang] for lang in languages]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], languages: Sequence[str],
           language_ids: Mapping[str, int], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenise ``texts`` (``<s> x </s>``, truncated to ``max_length``) with positions and language ids."""
    if len(texts) != len(languages) or not texts:
        raise ValueError(f"need one language per text and at least one text, got {len(texts)} texts and "
                         f"{len(languages)} languages")
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lang_ids = _language_ids(languages, language_ids)
    pad = tokenizer.pad_token_id
    return {
        "input_ids": _pad(ids, pad),
        "attention_mask": _pad([[1] * len(row) for row in ids], 0),
        "position_ids": _pad([list(range(POSITION_OFFSET, POSITION_OFFSET + len(row))) for row in ids], pad),
        "token_type_ids": _pad([[lang] * len(row) for row, lang in zip(ids, lang_ids, strict=True)], 0),
    }


def tlm_inputs(tokenizer: PreTrainedTokenizerBase, sources: Sequence[str], targets: Sequence[str],
               source_languages: Sequence[str], target_languages: Sequence[str],
               language_ids: Mapping[str, int], max_length: int) -> dict[str, torch.Tensor]:
    """``<s> source </s></s> target </s>`` per pair, positions reset at the target, a language id per half.

    Each half is truncated to ``max_length`` tokens, so positions never exceed the model's table.
    """
    if not (len(sources) == len(targets) == len(source_languages) == len(target_languages)) or not sources:
        raise ValueError("sources, targets and their languages must be non-empty lists of the same length")
    first = encode(tokenizer, sources, source_languages, language_ids, max_length)
    second = encode(tokenizer, targets, target_languages, language_ids, max_length)
    rows: dict[str, list[list[int]]] = {key: [] for key in first}
    for index in range(len(sources)):
        n, m = int(first["attention_mask"][index].sum()), int(second["attention_mask"][index].sum())
        for key in first:
            rows[key].append(first[key][index, :n].tolist() + second[key][index, :m].tolist())
        rows["input_ids"][-1][n] = tokenizer.sep_token_id  # <s> y </s> becomes </s> y </s>
    pad = tokenizer.pad_token_id
    return {key: _pad(values, pad if key in ("input_ids", "position_ids") else 0) for key, values in rows.items()}
