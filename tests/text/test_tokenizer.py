"""The shared tokenizer: XLM-R's special tokens, byte fallback (no <unk>), fertility statistics."""

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from xlm_course.data import load_corpus
from xlm_course.text import BYTE_PIECES, MIN_VOCAB_SIZE, fertility_table, token_premium, train_tokenizer

LANGUAGES = ["en", "zh-Hans", "ar", "hi", "sw", "ja"]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(LANGUAGES, sources=["ui", "udhr"])


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus["text"], vocab_size=3000)


def test_is_a_transformers_tokenizer_with_xlmr_special_tokens(tokenizer):
    assert isinstance(tokenizer, PreTrainedTokenizerFast) and len(tokenizer) == 3000
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]
    assert tokenizer.mask_token == "<mask>" and tokenizer.mask_token_id == len(tokenizer) - 1
    single = tokenizer("hello")["input_ids"]
    pair = tokenizer("hello", "你好")["input_ids"]
    assert single[0] == 0 and single[-1] == 2
    assert pair.count(2) == 3  # <s> A </s></s> B </s>


def test_every_byte_piece_is_in_the_vocabulary(tokenizer):
    assert all(piece in tokenizer.get_vocab() for piece in BYTE_PIECES)


@settings(deadline=None, max_examples=60)
@given(st.text(min_size=1, max_size=40))
def test_no_text_falls_to_unk_and_decoding_round_trips(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    normalised = tokenizer.backend_tokenizer.normalizer.normalize_str(text)
    assert tokenizer.decode(ids).strip() == normalised.strip()  # every character comes back


def test_unseen_scripts_use_bytes(tokenizer):
    tokens = tokenizer.tokenize("𓀀")  # an Egyptian hieroglyph: in no training text
    assert tokens[-4:] == ["<0xF0>", "<0x93>", "<0x80>", "<0x80>"]


def test_training_is_deterministic(corpus):
    """The trainer's floating-point sums vary between runs; the ids must not."""
    first = train_tokenizer(corpus["text"], vocab_size=2000).get_vocab()
    second = train_tokenizer(corpus["text"], vocab_size=2000).get_vocab()
    assert first == second


def test_saved_tokenizer_loads_back(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Kiswahili ni lugha 😀 中文"
    assert again(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_fertility_table(tokenizer, corpus):
    table = fertility_table(tokenizer, corpus)
    assert list(table.index) == sorted(LANGUAGES)
    assert (table["unk_rate"] == 0).all()
    assert (table["tokens_per_word"] >= 1).all()
    # no spaces between Chinese words: a "word" is a whole phrase, so per word it is far higher than English
    assert table.loc["zh-Hans", "tokens_per_word"] > 2 * table.loc["en", "tokens_per_word"]


def test_a_bigger_vocabulary_lowers_fertility(corpus):
    small = fertility_table(train_tokenizer(corpus["text"], vocab_size=1000), corpus)
    large = fertility_table(train_tokenizer(corpus["text"], vocab_size=4000), corpus)
    assert (large["tokens_per_char"] < small["tokens_per_char"]).all()


@pytest.mark.parametrize("vocab_size", [10, MIN_VOCAB_SIZE - 1, 2.5, True])
def test_vocab_size_too_small(vocab_size):
    with pytest.raises(ValueError, match="vocab_size must be an int"):
        train_tokenizer(["a b c"], vocab_size=vocab_size)


def test_bad_texts():
    with pytest.raises(TypeError, match="not one string"):
        train_tokenizer("some text", vocab_size=1000)
    with pytest.raises(TypeError, match="must be strings"):
        train_tokenizer(["ok", 3], vocab_size=1000)
    with pytest.raises(ValueError, match="empty"):
        train_tokenizer(["", "  "], vocab_size=1000)
    with pytest.raises(ValueError, match="character_coverage"):
        train_tokenizer(["abc"], vocab_size=1000, character_coverage=0)


def test_fertility_bad_input(tokenizer):
    with pytest.raises(ValueError, match="no column 'text'"):
        fertility_table(tokenizer, datasets.Dataset.from_dict({"lang": ["en"]}))
    with pytest.raises(ValueError, match="empty"):
        fertility_table(tokenizer, datasets.Dataset.from_dict({"lang": [], "text": []}))


def test_token_premium_is_tokens_per_shared_message_over_the_pivots(tokenizer):
    parallel = datasets.Dataset.from_dict({"concept": ["a", "a", "b", "b", "c"], "lang": ["en", "fr", "en", "fr", "fr"],
                                           "text": ["yes", "oui oui", "no", "non", "seul"]})
    lengths = {text: len(tokenizer.tokenize(text)) for text in parallel["text"]}
    premium = token_premium(tokenizer, parallel, ["en", "fr"])
    assert premium["en"] == 1.0  # "c" has no English side, so it is not counted
    assert premium["fr"] == (lengths["oui oui"] + lengths["non"]) / (lengths["yes"] + lengths["no"])
    with pytest.raises(ValueError, match="no message of 'de'"):
        token_premium(tokenizer, parallel, ["de"])
    with pytest.raises(ValueError, match="needs a 'concept' column"):
        token_premium(tokenizer, parallel.remove_columns("concept"), ["fr"])
