"""The dual encoder of question–answer ranking (xlm_course.applications.qa, chapter 6.3)."""

import pytest
import torch

from xlm_course.applications.qa import DualEncoderConfig, train_dual_encoder


def test_dual_encoder_training_is_deterministic_and_needs_enough_groups(tiny_source):
    queries = [f"question {i}" for i in range(12)]
    answers = [f"answer {i}" for i in range(12)]
    languages = ["en"] * 12
    groups = [str(i // 2) for i in range(12)]  # six groups of two
    config = DualEncoderConfig(steps=3, batch_size=4, warmup_steps=1)
    first = train_dual_encoder(tiny_source, queries, languages, answers, languages, groups, config)
    again = train_dual_encoder(tiny_source, queries, languages, answers, languages, groups, config)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert not torch.equal(first.embeddings.word_embeddings.weight,
                           tiny_source.encoder().embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="cannot fill a batch"):
        train_dual_encoder(tiny_source, queries, languages, answers, languages, groups,
                           DualEncoderConfig(steps=1, batch_size=8, warmup_steps=0))
    with pytest.raises(ValueError, match="same length"):
        train_dual_encoder(tiny_source, queries, languages, answers[:-1], languages, groups, config)


def test_dual_encoder_config_rejects_bad_values():
    with pytest.raises(ValueError, match="at least 2"):
        DualEncoderConfig(batch_size=1)
    with pytest.raises(ValueError, match="temperature"):
        DualEncoderConfig(temperature=0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        DualEncoderConfig(steps=0, warmup_steps=0)
