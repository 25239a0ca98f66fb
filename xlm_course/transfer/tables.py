"""Zero-shot cross-lingual transfer tables (chapters 3.4–3.5): fine-tune on some languages, test on every one.

:func:`zero_shot_table` builds the whole "train on English, test everywhere" table over several seeds in one call;
:func:`transfer_matrix` trains on each language in turn; :func:`few_shot_curve` adds k target examples;
:func:`model_selection` shows what choosing a checkpoint on the target language's dev set (which zero-shot does
not have) would change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import datasets
import pandas as pd
from transformers import PreTrainedModel

from ..models.source import EncoderSource
from ..training import History
from ..validation import check_positive_int
from .finetuning import FineTuneConfig, FineTuned, evaluate, finetune
from .tasks import ClassificationTask


def zero_shot_table(sources: Mapping[str, EncoderSource], task: ClassificationTask,
                    train_languages: Sequence[str] = ("en",), seeds: Sequence[int] = (0, 1, 2),
                    config: FineTuneConfig = FineTuneConfig(), metric: str = "accuracy",
                    prepare: Callable[[PreTrainedModel], PreTrainedModel] | None = None,
                    fit: Callable[..., FineTuned] = finetune) -> pd.DataFrame:
    """Fine-tune each encoder on ``train_languages`` once per seed (``prepare`` as in :func:`finetune`; ``fit``
    another trainer with finetune's first four arguments, such as :func:`linear_probe`); test on every language.

    Long format: one row per (encoder, seed, language) with ``metric``; see :func:`mean_and_std`.
    """
    if prepare is not None and fit is not finetune:
        raise ValueError("prepare changes the model that finetune builds; give prepare or another fit, not both")
    extra = {"prepare": prepare} if prepare is not None else {}
    rows = []
    train_rows = task.rows("train", train_languages)
    for name, source in sources.items():
        for seed in seeds:
            tuned = fit(source, task, train_rows, replace(config, seed=seed, eval_every=None), **extra)
            table = evaluate(tuned.model, source, task, "test", max_length=config.max_length,
                             device=config.device, precision=config.precision)
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
        matrix[train_lang] = evaluate(tuned.model, source, task, "test", languages, config.max_length,
                                      config.device, config.precision)[metric]
    frame = pd.DataFrame(matrix).T.loc[languages, languages]
    frame.index.name, frame.columns.name = "train", "test"
    return frame


def few_shot_curve(source: EncoderSource, task: ClassificationTask, targets: Sequence[str],
                   counts: Sequence[int] = (0, 10, 50, 200), source_languages: Sequence[str] = ("en",),
                   config: FineTuneConfig = FineTuneConfig(), metric: str = "accuracy") -> pd.DataFrame:
    """Test score in each target language (rows) after fine-tuning on the source languages plus ``k`` training
    examples of that target (columns: the counts; 0 is zero-shot, one run shared by every target)."""
    if not counts:
        raise ValueError("counts must hold at least one number of target examples, such as (0, 10, 50)")
    for k in counts:
        check_positive_int("each of counts", k, minimum=0)
    targets, config = list(targets), replace(config, eval_every=None)
    source_rows = task.rows("train", source_languages)
    curve: dict[int, dict[str, float]] = {}
    if 0 in counts:
        tuned = finetune(source, task, source_rows, config)
        curve[0] = evaluate(tuned.model, source, task, "test", targets, config.max_length, config.device,
                            config.precision)[metric].to_dict()
    for k in (k for k in counts if k > 0):
        curve[k] = {}
        for lang in targets:
            rows = datasets.concatenate_datasets([source_rows, task.few_shot(lang, k, seed=config.seed)])
            tuned = finetune(source, task, rows, config)
            curve[k][lang] = evaluate(tuned.model, source, task, "test", [lang], config.max_length, config.device,
                                      config.precision).loc[lang, metric]
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
    by_source = evals["dev", source_lang].idxmax()
    rows = {}
    for lang in target_languages:
        oracle = evals["dev", lang].idxmax()
        rows[lang] = {"source-dev choice": evals.loc[by_source, ("test", lang)],
                      "oracle (target dev)": evals.loc[oracle, ("test", lang)],
                      "last step": evals["test", lang].iloc[-1],
                      "source-dev step": by_source, "oracle step": oracle}
    return pd.DataFrame(rows).T


def transfer_ratio(table: pd.DataFrame, source_lang: str = "en") -> float:
    """Mean target-language score over the source-language score, from a per-language Series or 1-column frame."""
    scores = table.squeeze() if isinstance(table, pd.DataFrame) else table
    if source_lang not in scores.index:
        raise ValueError(f"no {source_lang!r} row; the rows are {list(scores.index)}")
    return float(scores.drop(source_lang).mean() / scores[source_lang])

