"""Cross-lingual question–answer pair prediction on chatterbot dialogues (chapter 6.3, the article's 问答对预测).

A question in one language; the answers of every held-out dialogue turn in another language form the pool; the
model must rank the right answer first. The right answer of a question is the answer of the same dialogue turn
(its translation, when the languages differ) — and of any turn that asks the very same question, since
chatterbot dialogues often give one question several answers.

The split is the pretraining split of chapter 3 (same concepts, same seed): fine-tuning uses the dialogues that
pretraining trained on, and every evaluated dialogue was held out of pretraining (its dev and test concepts).

The ranker is a *dual encoder*: one encoder embeds both sides, and the score of a pair is the cosine of their
mean-pooled vectors. :func:`train_dual_encoder` fine-tunes it with InfoNCE and in-batch negatives (chapter 4),
exactly the alignment loss of pretraining, now on task pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from transformers import PreTrainedModel

from ..data import concept_split, load_dialogues
from ..models.source import EncoderSource, embed, sentence_embeddings
from ..objectives import info_nce
from ..ranking import ranking_metrics
from ..training import RunConfig, step_generator, train
from ..validation import check_positive_numbers


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


@dataclass(frozen=True)
class DualEncoderConfig(RunConfig):
    """Fine-tuning of a dual encoder with in-batch negatives."""

    batch_size: int = 64  # the other 63 pairs of a batch are each query's negatives: more negatives, a harder task
    learning_rate: float = 3e-4  # below the base's 5e-4: the whole encoder moves, and 6.3 starts from a good one
    temperature: float = 0.05  # InfoNCE's τ, as in the E5 and SimCSE recipes for sentence pairs

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the other pairs of a batch are the negatives")
        check_positive_numbers(self, "temperature")


def train_dual_encoder(source: EncoderSource, queries: Sequence[str], query_languages: Sequence[str],
                       positives: Sequence[str], positive_languages: Sequence[str], groups: Sequence[str],
                       config: DualEncoderConfig = DualEncoderConfig(), progress: bool = False) -> PreTrainedModel:
    """Fine-tune ``source``'s encoder so that each query ranks its positive first among the batch's positives.

    ``groups`` names what a pair is about (a dialogue, a topic): a batch holds at most one pair per group, so that
    no in-batch negative is secretly another right answer.
    """
    sizes = {len(queries), len(query_languages), len(positives), len(positive_languages), len(groups)}
    if len(sizes) != 1:
        raise ValueError("queries, positives, their languages and groups must have the same length")
    distinct = sorted(set(groups))
    if len(distinct) < config.batch_size:
        raise ValueError(f"{len(distinct)} groups cannot fill a batch of {config.batch_size} distinct groups")
    by_group: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        by_group.setdefault(group, []).append(index)
    encoder = source.encoder(seed=config.seed)

    def batch_fn(step: int) -> dict[str, dict[str, torch.Tensor]]:
        generator = step_generator(config.seed, step)
        chosen_groups = torch.randperm(len(distinct), generator=generator)[:config.batch_size].tolist()
        rows = []
        for group_index in chosen_groups:
            members = by_group[distinct[group_index]]
            rows.append(members[int(torch.randint(len(members), (1,), generator=generator))])
        return {"query": source.encode([queries[i] for i in rows], [query_languages[i] for i in rows],
                                       config.max_length),
                "positive": source.encode([positives[i] for i in rows], [positive_languages[i] for i in rows],
                                          config.max_length)}

    def loss_fn(model: PreTrainedModel, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {"loss": info_nce(sentence_embeddings(model, batch["query"]),
                                 sentence_embeddings(model, batch["positive"]), config.temperature)}

    train(encoder, loss_fn, batch_fn, config.training(progress=progress))
    return encoder.eval()

