"""Where an encoder comes from, and what it says about a sentence: :class:`EncoderSource`, pooling, embedding
(chapters 3.4, 3.9, 6).

A source holds a tokenizer, a config and weights (``None``: a random initialisation of the same shape), and
everything in which a BERT-style model such as multilingual-e5-small differs from the course's XLM-R-style one:
where positions start, the prefix its texts carry, whether it has language embeddings. The same function then
takes either model: it builds transformers' own models from the source (the bare encoder, a sequence or token
classifier) and asks the source to encode its texts. A sentence's vector is the mean of its token vectors
(:func:`mean_pool`), made unit length for cosine similarity (:func:`embed`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ..runtime import batched, to_device
from ..text.inputs import POSITION_OFFSET, encode


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


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the token vectors that are not padding: one vector per sentence."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def sentence_embeddings(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean-pooled last hidden states of ``model``'s encoder: the bare encoder itself, or the one under a head
    (``base_model``: the MLM model of pretraining, chapter 3.2). ``labels`` in ``inputs`` are ignored."""
    encoder_inputs = {key: value for key, value in inputs.items() if key != "labels"}
    return mean_pool(model.base_model(**encoder_inputs).last_hidden_state, inputs["attention_mask"])


def embed(encoder: PreTrainedModel, source: EncoderSource, texts: Sequence[str], languages: Sequence[str],
          max_length: int = 32, batch_size: int = 256, device: torch.device | str | None = None,
          precision: str | None = None) -> torch.Tensor:
    """Unit-length mean-pooled embeddings of ``texts`` (one float32 row each, on the CPU), computed on ``device``
    (default: the one setup chose)."""
    if len(texts) != len(languages):
        raise ValueError(f"need one language per text, got {len(texts)} texts and {len(languages)} languages")

    def step(rows: slice, device: torch.device) -> torch.Tensor:
        inputs = source.encode(texts[rows], languages[rows], max_length)
        return sentence_embeddings(encoder, to_device(inputs, device)).float().cpu()

    return F.normalize(torch.cat(batched(encoder, len(texts), batch_size, step, device, precision)), dim=-1)
