"""The XLM-R-style encoder and its inputs: TLM positions reset, language ids, mean pooling."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import XLMRobertaForMaskedLM

from xlm_course.models.encoder import build_encoder, encoder_config, load_hub_encoder
from xlm_course.models.source import mean_pool, sentence_embeddings
from xlm_course.runtime import PROFILES
from xlm_course.text import train_tokenizer
from xlm_course.text.inputs import POSITION_OFFSET, encode, tlm_inputs

LANGS = {"en": 0, "fr": 1, "zh-Hans": 2}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["save the file", "enregistrer le fichier", "保存文件", "delete the user"] * 40,
                           vocab_size=400)


def test_config_follows_the_profile_and_has_language_embeddings():
    config = encoder_config(1000, list(LANGS), PROFILES["ci"])
    assert config.hidden_size == PROFILES["ci"].hidden_size and config.type_vocab_size == 3
    assert config.languages == ["en", "fr", "zh-Hans"]
    model = build_encoder(config, seed=1)
    assert isinstance(model, XLMRobertaForMaskedLM)
    again = build_encoder(config, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(),
                                                 strict=True))
    with pytest.raises(ValueError, match="without repeats"):
        encoder_config(1000, ["en", "en"])
    with pytest.raises(ValueError, match="vocab_size"):
        encoder_config(2, ["en"])


def test_hub_name_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"offline.*XLM_COURSE_PROFILE=ci"):
        load_hub_encoder("xlm-roberta-base")
    with pytest.raises(ValueError, match="not an XLM-R checkpoint"):
        load_hub_encoder("bert")


def test_encode_sets_positions_and_language_ids(tokenizer):
    batch = encode(tokenizer, ["save the file", "保存文件"], ["en", "zh-Hans"], LANGS, max_length=16)
    n = int(batch["attention_mask"][0].sum())
    assert batch["position_ids"][0, :n].tolist() == list(range(POSITION_OFFSET, POSITION_OFFSET + n))
    assert set(batch["token_type_ids"][1][batch["attention_mask"][1].bool()].tolist()) == {2}
    with pytest.raises(ValueError, match="no language id"):
        encode(tokenizer, ["x"], ["de"], LANGS, 8)
    with pytest.raises(ValueError, match="one language per text"):
        encode(tokenizer, ["x", "y"], ["en"], LANGS, 8)


def test_a_model_without_language_ids_gets_type_id_zero_for_every_language(tokenizer):
    # xlm-roberta-base and e5 have no language embeddings; the hub profile's sources pass None
    batch = encode(tokenizer, ["save the file", "保存文件", "x"], ["en", "zh-Hans", "not-a-language"], None, 16)
    assert batch["token_type_ids"].eq(0).all()
    with_ids = encode(tokenizer, ["save the file"], ["en"], LANGS, 16)
    assert torch.equal(encode(tokenizer, ["save the file"], ["en"], None, 16)["input_ids"], with_ids["input_ids"])


def test_tlm_inputs_reset_positions_at_the_translation(tokenizer):
    batch = tlm_inputs(tokenizer, ["save the file"], ["enregistrer le fichier"], ["en"], ["fr"], LANGS, 64)
    ids, positions, languages = batch["input_ids"][0], batch["position_ids"][0], batch["token_type_ids"][0]
    first = tokenizer("save the file")["input_ids"]
    second = tokenizer("enregistrer le fichier")["input_ids"]
    # the same ids as the tokenizer's own pair template <s> x </s></s> y </s>
    assert ids.tolist() == tokenizer("save the file", "enregistrer le fichier")["input_ids"]
    assert positions.tolist() == list(range(2, 2 + len(first))) + list(range(2, 2 + len(second)))
    assert languages.tolist() == [0] * len(first) + [1] * len(second)


def test_model_runs_on_tlm_inputs_and_pools(tokenizer):
    config = encoder_config(len(tokenizer), list(LANGS), PROFILES["ci"], max_position_embeddings=18)
    model = build_encoder(config).eval()
    batch = tlm_inputs(tokenizer, ["save the file", "delete"], ["保存文件", "supprimer"], ["en", "en"],
                       ["zh-Hans", "fr"], LANGS, 16)
    assert batch["position_ids"].max() < config.max_position_embeddings
    assert model(**batch).logits.shape == (*batch["input_ids"].shape, len(tokenizer))
    single = encode(tokenizer, ["save the file", "x"], ["en", "fr"], LANGS, 16)
    assert sentence_embeddings(model, single).shape == (2, config.hidden_size)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).item() == 2.0


WORDS = ["red", "heart", "dog", "face", "chat", "cœur", "猫", "心", "rouge", "pizza"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), st.lists(st.sampled_from(WORDS), min_size=1,
                                                                          max_size=6), st.integers(4, 12))
def test_tlm_positions_restart_at_the_second_sentence_for_any_pair(tokenizer, first, second, max_length):
    source, target = " ".join(first), " ".join(second)
    alone = encode(tokenizer, [source, target], ["en", "fr"], LANGS, max_length)
    n, m = (int(length) for length in alone["attention_mask"].sum(1))
    batch = tlm_inputs(tokenizer, [source], [target], ["en"], ["fr"], LANGS, max_length)
    positions, languages = batch["position_ids"][0].tolist(), batch["token_type_ids"][0].tolist()
    assert positions[:n + m] == list(range(2, 2 + n)) + list(range(2, 2 + m))
    assert languages[:n + m] == [LANGS["en"]] * n + [LANGS["fr"]] * m
    assert alone["position_ids"][0, :n].tolist() == list(range(2, 2 + n))
