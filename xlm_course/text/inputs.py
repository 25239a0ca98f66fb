"""Model inputs for monolingual (MLM) and parallel (TLM, contrastive) text (chapter 3).

* :func:`encode` tokenises sentences of known languages: ``input_ids``, ``attention_mask``, ``position_ids``
  (XLM-R numbers them from 2, BERT from 0: ``position_offset``) and ``token_type_ids`` holding each sentence's
  *language id*.
* :func:`tlm_inputs` concatenates a sentence and its translation, ``<s> x </s></s> y </s>``, as XLM's
  translation language modelling does: positions restart at the second sentence and each half carries its own
  language id, so a word masked in one language can be recovered from the other.

Both also take texts tokenised once per run (:func:`tokenize`, then :func:`encode_ids` and :func:`tlm_ids`): a
training loop that tokenised its batch at every step spent about 20 ms a step on one CPU core doing so, longer than
a whole step of the ci model takes on a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerBase

POSITION_OFFSET = 2  # XLM-R numbers positions from padding_idx + 1 = 2 (BERT from 0)


def _language_ids(languages: Sequence[str], language_ids: Mapping[str, int] | None) -> list[int]:
    if language_ids is None:  # a model without language embeddings (xlm-roberta-base, e5): type id 0 for all
        return [0] * len(languages)
    unknown = sorted(set(languages) - set(language_ids))
    if unknown:
        raise ValueError(f"no language id for {unknown}; the model knows {sorted(language_ids)}")
    return [language_ids[lang] for lang in languages]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """The token ids of each text, ``<s> x </s>`` truncated to ``max_length``: tokenise once, batch many times."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def encode_ids(ids: Sequence[Sequence[int]], languages: Sequence[str], language_ids: Mapping[str, int] | None,
               pad_token_id: int, position_offset: int = POSITION_OFFSET) -> dict[str, torch.Tensor]:
    """Model inputs from token ids (one row per text): padded ids, mask, positions from ``position_offset``
    (XLM-R's 2 by default; 0 for BERT models such as E5) and language ids (0 for every text when
    ``language_ids`` is None: the model has no language embeddings)."""
    if len(ids) != len(languages) or not ids:
        raise ValueError(f"need one language per text and at least one text, got {len(ids)} texts and "
                         f"{len(languages)} languages")
    rows = [list(row) for row in ids]
    lang_ids = _language_ids(languages, language_ids)
    return {
        "input_ids": _pad(rows, pad_token_id),
        "attention_mask": _pad([[1] * len(row) for row in rows], 0),
        "position_ids": _pad([list(range(position_offset, position_offset + len(row))) for row in rows],
                             pad_token_id),
        "token_type_ids": _pad([[lang] * len(row) for row, lang in zip(rows, lang_ids, strict=True)], 0),
    }


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], languages: Sequence[str],
           language_ids: Mapping[str, int] | None, max_length: int,
           position_offset: int = POSITION_OFFSET) -> dict[str, torch.Tensor]:
    """Tokenise ``texts`` (``<s> x </s>``, truncated to ``max_length``) with positions and language ids."""
    if len(texts) != len(languages) or not texts:
        raise ValueError(f"need one language per text and at least one text, got {len(texts)} texts and "
                         f"{len(languages)} languages")
    return encode_ids(tokenize(tokenizer, texts, max_length), languages, language_ids, tokenizer.pad_token_id,
                      position_offset)


def tlm_ids(first: Sequence[Sequence[int]], second: Sequence[Sequence[int]], first_languages: Sequence[str],
            second_languages: Sequence[str], language_ids: Mapping[str, int] | None, sep_token_id: int,
            pad_token_id: int) -> dict[str, torch.Tensor]:
    """:func:`tlm_inputs` from token ids: ``<s> x </s>`` and ``<s> y </s>`` become ``<s> x </s></s> y </s>``,
    with the positions restarting at the second half and each half keeping its language id."""
    if not (len(first) == len(second) == len(first_languages) == len(second_languages)) or not first:
        raise ValueError("sources, targets and their languages must be non-empty lists of the same length")
    left = encode_ids(first, first_languages, language_ids, pad_token_id)
    right = encode_ids(second, second_languages, language_ids, pad_token_id)
    rows: dict[str, list[list[int]]] = {key: [] for key in left}
    for index in range(len(first)):
        n, m = len(first[index]), len(second[index])
        for key in left:
            rows[key].append(left[key][index, :n].tolist() + right[key][index, :m].tolist())
        rows["input_ids"][-1][n] = sep_token_id  # <s> y </s> becomes </s> y </s>
    return {key: _pad(values, pad_token_id if key in ("input_ids", "position_ids") else 0)
            for key, values in rows.items()}


def tlm_inputs(tokenizer: PreTrainedTokenizerBase, sources: Sequence[str], targets: Sequence[str],
               source_languages: Sequence[str], target_languages: Sequence[str],
               language_ids: Mapping[str, int] | None, max_length: int) -> dict[str, torch.Tensor]:
    """``<s> source </s></s> target </s>`` per pair, positions reset at the target, a language id per half.

    Each half is truncated to ``max_length`` tokens, so positions never exceed the model's table.
    """
    if not (len(sources) == len(targets) == len(source_languages) == len(target_languages)) or not sources:
        raise ValueError("sources, targets and their languages must be non-empty lists of the same length")
    return tlm_ids(tokenize(tokenizer, sources, max_length), tokenize(tokenizer, targets, max_length),
                   source_languages, target_languages, language_ids, tokenizer.sep_token_id, tokenizer.pad_token_id)
