import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from xlm_course.text import char_ngram_vectors, char_ngrams


def test_char_ngrams_mark_word_boundaries():
    assert char_ngrams("Ab cd") == ["<ab", "ab>", "<cd", "cd>"]
    assert char_ngrams("a", n=3) == ["<a>"]
    assert char_ngrams("") == []


def test_cognates_are_closer_than_unrelated_words():
    address, adresse, password = char_ngram_vectors(["address", "adresse", "password"])
    assert address @ adresse > 0.3 > address @ password


def test_vectors_are_deterministic_and_normalised():
    first = char_ngram_vectors(["中文 text", "Kiswahili"])
    again = char_ngram_vectors(["中文 text", "Kiswahili"])
    assert torch.equal(first, again)
    torch.testing.assert_close(first.norm(dim=1), torch.ones(2))
    assert char_ngram_vectors([""]).abs().sum() == 0


@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_any_text_gives_a_unit_or_zero_row(texts):
    norms = char_ngram_vectors(texts, dim=64).norm(dim=1)
    assert all(abs(value - 1) < 1e-5 or value == 0 for value in norms.tolist())


def test_bad_input():
    with pytest.raises(TypeError, match="not one string"):
        char_ngram_vectors("abc")
    with pytest.raises(TypeError, match="must be strings"):
        char_ngram_vectors(["abc", None])
    with pytest.raises(ValueError, match="dim"):
        char_ngram_vectors(["abc"], dim=0)
    with pytest.raises(ValueError, match="n must be"):
        char_ngrams("abc", n=0)
