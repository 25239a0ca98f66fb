"""Masked language modelling inputs (BERT; chapters 3 and 4).

Of the maskable tokens (never ``<s>``, ``</s>``, ``<pad>`` or other special tokens) each is *selected* with
probability ``mlm_probability`` (15%). A selected token is the target of the loss, and its input is

* replaced by ``<mask>`` with probability 0.8,
* replaced by a random ordinary token with probability 0.1,
* left unchanged with probability 0.1,

so that the model cannot learn that only ``<mask>`` positions matter. Labels are the original ids at the
selected positions and ``-100`` elsewhere: PyTorch's cross-entropy ignores ``-100``, so the loss is a sum over
the masked set M only (chapter 4, eq. MLM).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

IGNORE_INDEX = -100


def special_ids_of(tokenizer) -> list[int]:
    """The ids of every special token of a ``transformers`` tokenizer."""
    return sorted(set(tokenizer.all_special_ids))


def mask_tokens(input_ids: torch.Tensor, mask_token_id: int, special_ids: Iterable[int], vocab_size: int,
                mlm_probability: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(masked_input_ids, labels)`` for MLM; ``input_ids`` is not modified."""
    if input_ids.dtype != torch.long:
        raise TypeError(f"input_ids must be a LongTensor of token ids, got {input_ids.dtype}")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must lie in (0, 1), got {mlm_probability!r}")
    if mask_fraction < 0 or random_fraction < 0 or mask_fraction + random_fraction > 1:
        raise ValueError(f"mask_fraction ({mask_fraction}) and random_fraction ({random_fraction}) must be "
                         "non-negative and sum to at most 1")
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    if mask_token_id not in special.tolist():
        raise ValueError(f"mask_token_id {mask_token_id} must be one of the special ids {special.tolist()}")
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[special] = False
    ordinary_ids = ordinary.nonzero().flatten()
    if len(ordinary_ids) == 0:
        raise ValueError("the vocabulary has no ordinary (non-special) token to draw random replacements from")
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, {vocab_size}), found [{input_ids.min()}, {input_ids.max()}]")

    maskable = ~torch.isin(input_ids, special)
    draw = torch.rand(input_ids.shape, generator=generator)
    selected = maskable & (draw < mlm_probability)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    # One more uniform number per position decides mask / random / keep for the selected ones.
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (action < mask_fraction)
    to_random = selected & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    random_tokens = ordinary_ids[torch.randint(len(ordinary_ids), input_ids.shape, generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_tokens[to_random]
    return masked, labels


def mask_batch(inputs: Mapping[str, torch.Tensor], tokenizer,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """MLM inputs from a batch of model inputs: ``input_ids`` masked by :func:`mask_tokens` (with ``tokenizer``'s
    mask token, special tokens and vocabulary) and ``labels`` added; the other inputs are kept."""
    if "input_ids" not in inputs:
        raise ValueError(f"inputs need 'input_ids' to mask; got keys {sorted(inputs)}")
    masked, labels = mask_tokens(inputs["input_ids"], tokenizer.mask_token_id, special_ids_of(tokenizer),
                                 len(tokenizer), generator=generator)
    return {**inputs, "input_ids": masked, "labels": labels}
