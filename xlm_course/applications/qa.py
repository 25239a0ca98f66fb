"""Cross-lingual question–answer pair prediction on chatterbot dialogues (chapter 6.3, the article's 问答对预测).

A question in one language; the answers of every held-out dialogue turn in another language form the pool; the
model must rank the right answer first. The right answer of a question is the answer of the same dialogue turn
(its translation, when the languages differ) — and of any turn that asks the very same question, since
chatterbot dialogues often give one question several answers.

The split is the pretraining split of chapter 3 (same concepts, same seed): fine-tuning uses the dialogues that
pretraining trained on, and every evaluated dialogue was held out of pretraining (its dev and test concepts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from transformers import PreTrainedModel

from ..data import concept_split, load_dialogues
from ..ranking import embed, ranking_metrics
from ..transfer import EncoderSource


@dataclass(frozen=True)
class QAData:
    """Question–answer rows (concept, dialogue, lang, topic, turn, question, answer) for training and evaluation."""

    train: pd.DataFrame
    held_out: pd.DataFrame


def load_qa(languages: Sequence[str], seed: int = 0) -> QAData:
    """The dialogues of ``languages``: ``train`` = pretraining's training concepts, ``held_out`` = the rest."""
    frame = load_dialogues(list(languages)).to_pandas()
    held = frame["concept"].map(lambda concept: concept_split(concept, seed=seed) != "train")
    return QAData(frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True))


@dataclass(frozen=True)
class RankingSet:
    """Queries, a pool of candidates and, per query, the indices of its right answers in the pool."""

    queries: list[str]
    pool: list[str]
    relevant: list[set[int]]


def ranking_set(held_out: pd.DataFrame, question_lang: str, answer_lang: str) -> RankingSet:
    """Questions in ``question_lang`` against every held-out answer in ``answer_lang``.

    A question is kept when some answer in ``answer_lang`` belongs to the same concept, dialogue and turn; the
    same question text asked in several turns is one query whose right answers are all of theirs.
    """
    answers = held_out[held_out["lang"] == answer_lang]
    questions = held_out[held_out["lang"] == question_lang]
    if answers.empty or questions.empty:
        raise ValueError(f"no held-out dialogues in {question_lang!r} or {answer_lang!r}; the languages loaded are "
                         f"{sorted(held_out['lang'].unique())}")
    pool = list(dict.fromkeys(answers["answer"]))
    index = {text: i for i, text in enumerate(pool)}
    answer_of = {(row.concept, row.dialogue, row.turn): index[row.answer] for row in answers.itertuples()}
    relevant: dict[str, set[int]] = {}
    for row in questions.itertuples():
        found = answer_of.get((row.concept, row.dialogue, row.turn))
        if found is not None:
            relevant.setdefault(row.question, set()).add(found)
    return RankingSet(list(relevant), pool, list(relevant.values()))


def qa_table(encoder: PreTrainedModel, source: EncoderSource, held_out: pd.DataFrame,
             pairs: Sequence[tuple[str, str]], max_length: int = 32) -> pd.DataFrame:
    """accuracy@1 and MRR per (question language, answer language), with the query and pool sizes."""
    rows = []
    for question_lang, answer_lang in pairs:
        task = ranking_set(held_out, question_lang, answer_lang)
        if not task.queries:
            raise ValueError(f"no {question_lang} question has an answer in {answer_lang} among the held-out "
                             "dialogues")
        queries = embed(encoder, source, task.queries, [question_lang] * len(task.queries), max_length)
        pool = embed(encoder, source, task.pool, [answer_lang] * len(task.pool), max_length)
        metrics = ranking_metrics(queries @ pool.T, task.relevant, ks=(10,))
        rows.append({"question": question_lang, "answer": answer_lang, "queries": len(task.queries),
                     "pool": len(task.pool), "accuracy@1": metrics["accuracy@1"], "MRR": metrics["MRR"],
                     "chance@1": sum(len(r) for r in task.relevant) / len(task.relevant) / len(task.pool)})
    return pd.DataFrame(rows)


def translated_questions(held_out: pd.DataFrame, lang: str, pivot: str = "en") -> tuple[list[str], list[str]]:
    """Held-out questions of ``pivot`` and their translations in ``lang`` (same concept, dialogue and turn),
    without repeats on either side: the material of an alignment probe on conversational text."""
    keys = ["concept", "dialogue", "turn"]
    pivot_rows = held_out[held_out["lang"] == pivot].drop_duplicates(keys)
    joined = pivot_rows.merge(held_out[held_out["lang"] == lang], on=keys, suffixes=("_pivot", "_lang"))
    joined = joined.drop_duplicates("question_pivot").drop_duplicates("question_lang")
    return list(joined["question_pivot"]), list(joined["question_lang"])
