"""Splits by concept: no test concept appears in training in any language."""

import datasets
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlm_course.data import (
    concept_split,
    load_dialogues,
    load_emoji_names,
    load_udhr,
    load_ui_messages,
    split_by_concept,
)


@pytest.mark.parametrize("loader", [
    load_ui_messages, load_emoji_names, load_dialogues, lambda: load_udhr(["en", "fr", "sw", "zh-Hans", "ar"]),
], ids=["ui", "emoji", "dialogues", "udhr"])
def test_no_concept_crosses_splits(loader):
    splits = split_by_concept(loader())
    concepts = {name: set(part["concept"]) for name, part in splits.items()}
    assert not concepts["train"] & concepts["test"]
    assert not concepts["train"] & concepts["dev"]
    assert not concepts["dev"] & concepts["test"]
    assert all(len(part) > 0 for part in splits.values())


def test_no_test_text_is_in_training_in_any_language():
    splits = split_by_concept(load_emoji_names())
    train = set(zip(splits["train"]["lang"], splits["train"]["text"], strict=True))
    test_concepts = set(splits["test"]["concept"])
    assert test_concepts and not any(concept in test_concepts for concept in splits["train"]["concept"])
    leaked = [row for row in zip(splits["test"]["lang"], splits["test"]["text"], strict=True) if row in train]
    # a few emoji share a name ("keycap" variants differ only in the symbol): allow under 1%
    assert len(leaked) < 0.01 * len(splits["test"])


def test_split_is_deterministic_and_independent_of_row_order():
    data = load_ui_messages(["en", "fr"])
    first = split_by_concept(data, seed=1)
    shuffled = split_by_concept(data.shuffle(seed=5), seed=1)
    assert set(first["test"]["concept"]) == set(shuffled["test"]["concept"])
    other = split_by_concept(data, seed=2)
    assert set(first["test"]["concept"]) != set(other["test"]["concept"])


def test_fractions_are_respected_roughly():
    splits = split_by_concept(load_emoji_names(["en"]), fractions=(0.6, 0.2, 0.2))
    total = sum(len(part) for part in splits.values())
    assert abs(len(splits["train"]) / total - 0.6) < 0.05


@given(st.text(min_size=1, max_size=30), st.integers(0, 1000))
def test_concept_split_is_a_pure_function(concept, seed):
    assert concept_split(concept, seed=seed) == concept_split(concept, seed=seed)
    assert concept_split(concept, (1.0, 0.0, 0.0), seed) == "train"
    assert concept_split(concept, (0.0, 0.0, 1.0), seed) == "test"


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1)])
def test_bad_fractions(fractions):
    data = datasets.Dataset.from_dict({"concept": ["a"], "lang": ["en"], "text": ["x"]})
    with pytest.raises(ValueError, match="fractions"):
        split_by_concept(data, fractions=fractions)


def test_missing_concept_column():
    with pytest.raises(ValueError, match="no column 'concept'"):
        split_by_concept(datasets.Dataset.from_dict({"text": ["x"]}))
