"""Fine-tune on some languages, test on every language: zero-shot cross-lingual transfer (chapters 3.4–3.5, 6).

A classifier here is transformers' own ``XLMRobertaForSequenceClassification`` whose encoder comes from an
:class:`EncoderSource`: the course's jointly pretrained encoder, a randomly initialised one of the same shape (the
baseline every result is compared with) or, under the ``hub`` profile, a real checkpoint such as
``xlm-roberta-base``. :func:`zero_shot_table` builds the whole "train on English, test everywhere" table over
several seeds in one call; :func:`transfer_matrix` trains on each language in turn; :func:`model_selection`
shows what choosing a checkpoint on the target language's dev set (which zero-shot does not have) would change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache

import datasets
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from .data import EMOJI_LANGUAGES, load_emoji_names, split_by_concept
from .models.encoder import load_hub_encoder
from .pretraining import PRETRAINING_LANGUAGES, Pretrained, PretrainingSetup, pretrain
from .runtime import get_profile
from .text.batches import encode
from .training import (
    History,
    TrainingConfig,
    check_positive_ints,
    check_positive_numbers,
    check_warmup,
    train,
)

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

    @classmethod
    def from_model(cls, name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                   language_ids: Mapping[str, int] | None = None, random_init: bool = False) -> EncoderSource:
        """The encoder of ``model`` (any XLM-R-style model), or a random one of its shape if ``random_init``."""
        weights = None if random_init else {key: value.detach().clone()
                                            for key, value in model.base_model.state_dict().items()}
        return cls(name, tokenizer, model.config, weights, language_ids)

    @classmethod
    def from_pretrained(cls, name: str, pretrained: Pretrained, random_init: bool = False) -> EncoderSource:
        """The encoder of a :class:`~xlm_course.pretraining.Pretrained` run, with its language ids."""
        return cls.from_model(name, pretrained.model, pretrained.tokenizer, pretrained.task.data.language_ids,
                              random_init)

    def encode(self, texts: Sequence[str], languages: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        """Model inputs with each text's language id (0 for every language when the model has none)."""
        ids = self.language_ids if self.language_ids is not None else dict.fromkeys(languages, 0)
        return encode(self.tokenizer, texts, languages, ids, max_length)

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
            model.base_model.load_state_dict(self.weights)
        return model


def replace_config(config: PretrainedConfig, **changes: object) -> PretrainedConfig:
    """A copy of a transformers config with some fields changed."""
    changed = copy.deepcopy(config)
    for key, value in changes.items():
        setattr(changed, key, value)
    return changed


def course_encoders(progress: bool = False) -> dict[str, EncoderSource]:
    """The two encoders every application compares: pretrained, and randomly initialised with the same shape.

    Offline profiles pretrain (or load from the cache) :data:`DOWNSTREAM_SETUP`; the ``hub`` profile loads
    ``xlm-roberta-base``.
    """
    if get_profile().uses_hub_checkpoints:
        model, tokenizer = load_hub_encoder("xlm-roberta-base")
        return {"xlm-roberta-base": EncoderSource.from_model("xlm-roberta-base", model, tokenizer),
                "random init": EncoderSource.from_model("random init", model, tokenizer, random_init=True)}
    pretrained = pretrain(DOWNSTREAM_SETUP, progress=progress)
    return {"jointly pretrained": EncoderSource.from_pretrained("jointly pretrained", pretrained),
            "random init": EncoderSource.from_pretrained("random init", pretrained, random_init=True)}


def downstream_mlm(progress: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The applications' masked language model and tokenizer: :data:`DOWNSTREAM_SETUP` pretrained (or loaded
    from the cache) offline, ``xlm-roberta-base`` under the ``hub`` profile."""
    if get_profile().uses_hub_checkpoints:
        return load_hub_encoder("xlm-roberta-base")
    pretrained = pretrain(DOWNSTREAM_SETUP, progress=progress)
    return pretrained.model, pretrained.tokenizer


@dataclass(frozen=True)
class ClassificationTask:
    """Labelled texts in several languages, split by concept: columns concept, lang, text, label (an int)."""

    name: str
    splits: datasets.DatasetDict
    labels: tuple[str, ...]
    _frames: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def frame(self, split: str, languages: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows of ``split`` (in ``languages``) as a DataFrame: what evaluation reads, many times over."""
        if split not in self._frames:
            self._check(split, languages)
            self._frames[split] = self.splits[split].select_columns(["lang", "text", "label"]).to_pandas()
        self._check(split, languages)
        frame = self._frames[split]
        return frame if languages is None else frame[frame["lang"].isin(list(languages))]

    def _check(self, split: str, languages: Sequence[str] | None) -> None:
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; the splits are {list(self.splits)}")
        if isinstance(languages, str):
            raise TypeError(f"languages must be a list such as ['fr'], not the string {languages!r}")
        unknown = sorted(set(languages or ()) - set(self.languages))
        if unknown:
            raise ValueError(f"{self.name} has no {unknown}; its languages are {list(self.languages)}")

    @property
    def languages(self) -> tuple[str, ...]:
        if "languages" not in self._frames:  # computed once: reading a datasets column row by row is slow
            self._frames["languages"] = tuple(dict.fromkeys(self.splits["train"].data.column("lang").to_pylist()))
        return self._frames["languages"]

    def rows(self, split: str, languages: Sequence[str] | None = None) -> datasets.Dataset:
        """The rows of ``split`` in ``languages`` (all by default)."""
        self._check(split, languages)
        if languages is None:
            return self.splits[split]
        wanted = set(languages)
        return self.splits[split].filter(lambda lang: lang in wanted, input_columns="lang")

    def few_shot(self, lang: str, count: int, seed: int = 0) -> datasets.Dataset:
        """``count`` training rows in ``lang``, drawn with ``seed`` (a fixed draw: the same rows every run)."""
        rows = self.rows("train", [lang])
        if not 0 <= count <= len(rows):
            raise ValueError(f"count must lie in [0, {len(rows)}] for {lang}, got {count!r}")
        return rows.shuffle(seed=seed).select(range(count))

    def majority_baseline(self, split: str = "test") -> pd.Series:
        """Per language, the accuracy of always answering the most frequent training label."""
        majority = np.bincount(self.frame("train")["label"], minlength=len(self.labels)).argmax()
        frame = self.frame(split)
        return (frame["label"] == majority).groupby(frame["lang"], sort=False).mean().rename("majority")


def _task(name: str, dataset: datasets.Dataset, label_column: str, seed: int) -> ClassificationTask:
    labels = tuple(sorted(set(dataset[label_column])))
    index = {label: i for i, label in enumerate(labels)}
    dataset = dataset.map(lambda value: {"label": index[value]}, input_columns=label_column)
    dataset = dataset.select_columns(["concept", "lang", "text", "label"])
    return ClassificationTask(name, split_by_concept(dataset, seed=seed), labels)


@cache
def emoji_category_task(languages: tuple[str, ...] = DOWNSTREAM_LANGUAGES, seed: int = 0) -> ClassificationTask:
    """Emoji name → Unicode group (9 classes), split by emoji as in pretraining, so test emoji are unseen."""
    return _task("emoji category", load_emoji_names(list(languages)), "category", seed)


@cache
def emoji_sentiment_task(languages: tuple[str, ...] = DOWNSTREAM_LANGUAGES, seed: int = 0) -> ClassificationTask:
    """Emoji name → negative / neutral / positive (Emoji Sentiment Ranking), for the emoji it covers."""
    names = load_emoji_names(list(languages)).filter(lambda label: label is not None, input_columns="sentiment")
    return _task("emoji sentiment", names, "sentiment", seed)


@dataclass(frozen=True)
class FineTuneConfig:
    """Fine-tuning hyper-parameters: a fixed budget of steps, whatever the size of the training set."""

    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_steps: int = 30
    max_length: int = 32
    eval_every: int | None = 50  # None: no evaluation during training
    class_weighted: bool = False  # weight the loss by inverse class frequency (for imbalanced labels)
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size", "max_length", "eval_every", optional=("eval_every",))
        check_positive_numbers(self, "learning_rate")
        check_warmup(self)


@dataclass
class FineTuned:
    """A fine-tuned classifier, the encoder it started from, and its history (dev/test scores per eval)."""

    model: PreTrainedModel
    source: EncoderSource
    config: FineTuneConfig
    history: History


@torch.no_grad()
def predict(model: PreTrainedModel, source: EncoderSource, texts: Sequence[str], languages: Sequence[str],
            max_length: int = 32, batch_size: int = 256) -> np.ndarray:
    """The predicted label index of each text."""
    model.eval()
    predictions = []
    for start in range(0, len(texts), batch_size):
        inputs = source.encode(texts[start:start + batch_size], languages[start:start + batch_size], max_length)
        predictions.append(model(**inputs).logits.argmax(-1))
    return torch.cat(predictions).numpy()


def evaluate(model: PreTrainedModel, source: EncoderSource, task: ClassificationTask, split: str = "test",
             languages: Sequence[str] | None = None, max_length: int = 32) -> pd.DataFrame:
    """Accuracy and macro-F1 per language (rows), with the number of examples."""
    frame = task.frame(split, languages).copy()
    frame["prediction"] = predict(model, source, list(frame["text"]), list(frame["lang"]), max_length)
    return pd.DataFrame({
        lang: {"accuracy": (part["label"] == part["prediction"]).mean(),
               "macro_f1": f1_score(part["label"], part["prediction"], average="macro",
                                    labels=range(len(task.labels)), zero_division=0),
               "n": len(part)}
        for lang, part in frame.groupby("lang", sort=False)
    }).T.astype({"n": int})


def finetune(source: EncoderSource, task: ClassificationTask, train_rows: datasets.Dataset,
             config: FineTuneConfig = FineTuneConfig(), eval_languages: Sequence[str] | None = None,
             progress: bool = False, prepare: Callable[[PreTrainedModel], PreTrainedModel] | None = None) -> FineTuned:
    """Fine-tune a classifier on ``train_rows``; every ``eval_every`` steps record dev and test accuracy per
    language of ``eval_languages`` (all the task's by default) in ``history.evaluations``. ``prepare`` changes
    the fresh classifier before training (add LoRA or adapters, freeze parts: chapter 8); only parameters that
    still require gradients are trained."""
    if len(train_rows) == 0:
        raise ValueError("train_rows is empty")
    eval_languages = list(eval_languages or task.languages)
    model = source.classifier(task.labels, seed=config.seed)
    if prepare is not None:
        model = prepare(model)
    texts, langs = list(train_rows["text"]), list(train_rows["lang"])
    labels = torch.tensor(train_rows["label"])
    weights = None
    if config.class_weighted:
        counts = torch.bincount(labels, minlength=len(task.labels)).float()
        weights = torch.where(counts > 0, counts.sum() / (len(task.labels) * counts.clamp_min(1)), 0.0)
    per_epoch = max(1, len(texts) // config.batch_size)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        epoch, position = divmod(step, per_epoch)
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(config.seed * 10_007 + epoch))
        chosen = order[position * config.batch_size:(position + 1) * config.batch_size].tolist()
        inputs = source.encode([texts[i] for i in chosen], [langs[i] for i in chosen], config.max_length)
        return {**inputs, "labels": labels[chosen]}

    def loss_fn(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {key: value for key, value in batch.items() if key != "labels"}
        return {"loss": F.cross_entropy(model(**inputs).logits, batch["labels"], weight=weights)}

    def scores(model: PreTrainedModel) -> dict[str, float]:
        found = {}
        for split in ("dev", "test"):
            table = evaluate(model, source, task, split, eval_languages, config.max_length)
            found.update({f"{split}/{lang}": value for lang, value in table["accuracy"].items()})
        return found

    # peft's AdaLoRA moves rank between matrices during training and asks the loop to call it after every step
    reallocate = getattr(getattr(model, "base_model", None), "update_and_allocate", None)
    history = train(model, loss_fn, batch_fn,
                    TrainingConfig(steps=config.steps, learning_rate=config.learning_rate,
                                   warmup_steps=config.warmup_steps, seed=config.seed,
                                   eval_every=config.eval_every, progress=progress),
                    evaluate=scores if config.eval_every else None, after_step=reallocate)
    return FineTuned(model, source, config, history)


def zero_shot_table(sources: Mapping[str, EncoderSource], task: ClassificationTask,
                    train_languages: Sequence[str] = ("en",), seeds: Sequence[int] = (0, 1, 2),
                    config: FineTuneConfig = FineTuneConfig(), metric: str = "accuracy",
                    prepare: Callable[[PreTrainedModel], PreTrainedModel] | None = None) -> pd.DataFrame:
    """Fine-tune each encoder on ``train_languages`` once per seed (``prepare`` as in :func:`finetune`); test on
    every language.

    Long format: one row per (encoder, seed, language) with ``metric``; see :func:`mean_and_std`.
    """
    rows = []
    train_rows = task.rows("train", train_languages)
    for name, source in sources.items():
        for seed in seeds:
            tuned = finetune(source, task, train_rows, replace(config, seed=seed, eval_every=None), prepare=prepare)
            table = evaluate(tuned.model, source, task, "test", max_length=config.max_length)
            rows += [{"encoder": name, "seed": seed, "lang": lang, metric: value}
                     for lang, value in table[metric].items()]
    return pd.DataFrame(rows)


def mean_and_std(table: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Rows: languages; columns: (encoder, mean) and (encoder, std) over seeds."""
    grouped = table.groupby(["lang", "encoder"], sort=False)[metric].agg(["mean", "std"]).unstack("encoder")
    return grouped.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)


def transfer_matrix(source: EncoderSource, task: ClassificationTask, languages: Sequence[str] | None = None,
                    config: FineTuneConfig = FineTuneConfig(), metric: str = "accuracy") -> pd.DataFrame:
    """Train on each language alone (rows) and test on every language (columns)."""
    languages = list(languages or task.languages)
    matrix = {}
    for train_lang in languages:
        tuned = finetune(source, task, task.rows("train", [train_lang]), replace(config, eval_every=None))
        matrix[train_lang] = evaluate(tuned.model, source, task, "test", languages, config.max_length)[metric]
    frame = pd.DataFrame(matrix).T.loc[languages, languages]
    frame.index.name, frame.columns.name = "train", "test"
    return frame


def few_shot_curve(source: EncoderSource, task: ClassificationTask, targets: Sequence[str],
                   counts: Sequence[int] = (0, 10, 50, 200), source_languages: Sequence[str] = ("en",),
                   config: FineTuneConfig = FineTuneConfig(), metric: str = "accuracy") -> pd.DataFrame:
    """Test score in each target language (rows) after fine-tuning on the source languages plus ``k`` training
    examples of that target (columns: the counts; 0 is zero-shot, one run shared by every target)."""
    if not counts or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in counts):
        raise ValueError(f"counts must be non-negative ints, got {counts!r}")
    targets, config = list(targets), replace(config, eval_every=None)
    source_rows = task.rows("train", source_languages)
    curve: dict[int, dict[str, float]] = {}
    if 0 in counts:
        tuned = finetune(source, task, source_rows, config)
        curve[0] = evaluate(tuned.model, source, task, "test", targets, config.max_length)[metric].to_dict()
    for k in (k for k in counts if k > 0):
        curve[k] = {}
        for lang in targets:
            rows = datasets.concatenate_datasets([source_rows, task.few_shot(lang, k, seed=config.seed)])
            tuned = finetune(source, task, rows, config)
            curve[k][lang] = evaluate(tuned.model, source, task, "test", [lang], config.max_length).loc[lang, metric]
    frame = pd.DataFrame(curve).loc[targets, list(counts)]
    frame.index.name, frame.columns.name = "language", "target examples"
    return frame


def transfer_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per training language: its own score, the mean over the other languages, the gap and the ratio."""
    rows = {}
    for lang in matrix.index:
        own = matrix.loc[lang, lang]
        others = matrix.loc[lang, [other for other in matrix.columns if other != lang]].mean()
        rows[lang] = {"source": own, "mean target": others, "gap": own - others, "transfer ratio": others / own}
    return pd.DataFrame(rows).T


def model_selection(history: History, source_lang: str, target_languages: Sequence[str]) -> pd.DataFrame:
    """Test accuracy per target when the checkpoint is chosen on the source's dev set (what zero-shot allows),
    on the target's own dev set (an "oracle" that needs target labels), or is simply the last one."""
    evals = history.evaluation_frame()
    if evals.empty:
        raise ValueError("the history has no evaluations; fine-tune with eval_every set")
    by_source = evals[f"dev/{source_lang}"].idxmax()
    rows = {}
    for lang in target_languages:
        oracle = evals[f"dev/{lang}"].idxmax()
        rows[lang] = {"source-dev choice": evals.loc[by_source, f"test/{lang}"],
                      "oracle (target dev)": evals.loc[oracle, f"test/{lang}"],
                      "last step": evals[f"test/{lang}"].iloc[-1],
                      "source-dev step": by_source, "oracle step": oracle}
    return pd.DataFrame(rows).T


def transfer_ratio(table: pd.DataFrame, source_lang: str = "en") -> float:
    """Mean target-language score over the source-language score, from a per-language Series or 1-column frame."""
    scores = table.squeeze() if isinstance(table, pd.DataFrame) else table
    if source_lang not in scores.index:
        raise ValueError(f"no {source_lang!r} row; the rows are {list(scores.index)}")
    return float(scores.drop(source_lang).mean() / scores[source_lang])


__all__ = [
    "DOWNSTREAM_LANGUAGES", "DOWNSTREAM_SETUP", "ClassificationTask", "EncoderSource", "FineTuneConfig",
    "FineTuned", "course_encoders", "downstream_mlm", "emoji_category_task", "emoji_sentiment_task", "evaluate", "few_shot_curve", "finetune",
    "mean_and_std", "model_selection", "predict", "transfer_matrix", "transfer_ratio", "transfer_summary",
    "zero_shot_table",
]
