"""An XLM-R-style encoder from a ``transformers`` config, sized by the profile (chapters 3–6).

The architecture is XLM-R's (``XLMRobertaForMaskedLM``): post-norm Transformer encoder, learned positions,
a tied MLM head. One addition from XLM {cite}`lample2019cross`: *language embeddings*, carried by the token-type
embedding table (``type_vocab_size`` = number of languages), so that a TLM input can say which half is which
language. Under the ``hub`` profile :func:`load_hub_encoder` loads a real checkpoint instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase, XLMRobertaConfig, XLMRobertaForMaskedLM

from ..runtime import Profile, get_profile, is_online
from ..text.inputs import POSITION_OFFSET
from ..validation import check_positive_int


def encoder_config(vocab_size: int, languages: Sequence[str], profile: Profile | None = None,
                   pad_token_id: int = 1, bos_token_id: int = 0, eos_token_id: int = 2, dropout: float = 0.1,
                   **overrides) -> XLMRobertaConfig:
    """An ``XLMRobertaConfig`` for a tiny encoder: sizes from ``profile``, one language embedding per language."""
    profile = profile or get_profile()
    check_positive_int("vocab_size", vocab_size, minimum=8)
    languages = list(languages)
    if not languages or len(set(languages)) != len(languages):
        raise ValueError(f"languages must be a non-empty list without repeats, got {languages!r}")
    settings = {
        "vocab_size": vocab_size, "hidden_size": profile.hidden_size, "num_hidden_layers": profile.num_layers,
        "num_attention_heads": profile.num_heads, "intermediate_size": 4 * profile.hidden_size,
        # a TLM input holds two sentences, each up to max_seq_len, with positions reset for the second
        "max_position_embeddings": profile.max_seq_len + POSITION_OFFSET,
        "type_vocab_size": len(languages), "pad_token_id": pad_token_id, "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id, "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout,
        "languages": languages,
    }
    settings.update(overrides)
    return XLMRobertaConfig(**settings)


def build_encoder(config: XLMRobertaConfig, seed: int = 0) -> XLMRobertaForMaskedLM:
    """A randomly initialised ``XLMRobertaForMaskedLM`` (initialisation seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return XLMRobertaForMaskedLM(config)


def load_hub_encoder(name: str = "xlm-roberta-base") -> tuple[XLMRobertaForMaskedLM, PreTrainedTokenizerBase]:
    """A pretrained checkpoint and its tokenizer from the Hugging Face Hub (``hub`` profile): downloaded online,
    from the local cache offline."""
    if "/" not in name and not name.startswith("xlm-roberta"):
        raise ValueError(f"{name!r} is not an XLM-R checkpoint name; try 'xlm-roberta-base' or "
                         "'FacebookAI/xlm-roberta-large'")
    online = is_online()
    try:  # offline, from the Hugging Face cache if a download (or models.hub.seed_hub_cache) left it there
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=not online)
        return XLMRobertaForMaskedLM.from_pretrained(name, local_files_only=not online), tokenizer
    except OSError as error:
        if online:
            raise
        raise RuntimeError(
            f"Cannot download {name!r}: this machine is offline (or HF_HUB_OFFLINE is set), and it is not in the "
            "Hugging Face cache. Offline, use the course's own encoder: XLM_COURSE_PROFILE=ci (the default) and "
            "xlm_course.models.build_encoder(encoder_config(...)), or the cached pretrained one from "
            "xlm_course.pretraining.") from error
