"""Hidden cases and partial credit (xlm_course.exercises, issue 25): every check, given a seed, tries the learner's
code on cases drawn from it; a right answer passes them for every seed, code that only returns the notebook's
expected values fails them, the same seed draws the same cases, and a check with independent parts gives credit
for the parts that are right."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score
from test_exercises import Gated, accuracy, align, clip, gradient, quantise
from test_experiments import (
    accumulated_gradients,
    attention_entropy,
    bleu,
    ddp_gradients,
    drawn_shares,
    first_level_losing,
    gradient_error,
    hard_negative_share,
    order_gap,
    probe,
    relative_error,
    spectrum,
    split_characters,
    tlm_pair,
)

from xlm_course import exercises as ex
from xlm_course.data.sampling import sampling_probabilities
from xlm_course.deployment.adapters import LoRALinear
from xlm_course.deployment.distillation import distillation_loss
from xlm_course.models.attention import scaled_dot_product_attention
from xlm_course.objectives import info_nce, joint_objective
from xlm_course.ranking import top1_accuracy
from xlm_course.text.fertility import token_premium
from xlm_course.text.masking import mask_tokens
from xlm_course.training import TrainingConfig, linear_warmup_decay


def _premium(tokenizer, parallel, languages):
    return token_premium(tokenizer, parallel, languages).to_dict()


class _Echo:
    """Stands in for a translation model: translate() is patched to echo the sources."""


def _decode_and_score(model, tokenizer, sources, references, num_beams):
    from xlm_course.applications import translation

    return translation.translation_scores(translation.translate(model, tokenizer, sources, num_beams=num_beams),
                                          references, "fr")["chrF"]


# A right answer for every check: (the check, its positional arguments, its keyword arguments).
RIGHT = {
    "check_sampling_probabilities": ([lambda c, a: list(sampling_probabilities(dict(enumerate(c)), a).values())], {}),
    "check_effective_languages": ([lambda q: math.exp(-sum(p * math.log(p) for p in q if p > 0))], {}),
    "check_fertility": ([lambda tokenize, sentences: sum(len(tokenize(s)) for s in sentences) / sum(
        len(s.split()) for s in sentences)], {}),
    "check_attention": ([scaled_dot_product_attention], {}),
    "check_split_heads": ([lambda x, heads: x.view(*x.shape[:2], heads, -1).transpose(1, 2)], {}),
    "check_causal_mask": ([lambda n: torch.ones(n, n, dtype=torch.bool).tril()], {}),
    "check_mask_tokens": ([lambda ids, m, special, vocab, g: mask_tokens(ids, m, special, vocab, generator=g)], {}),
    "check_info_nce": ([lambda a, b, t: info_nce(a, b, t, symmetric=False)], {}),
    "check_gated_fusion": ([Gated], {}),
    "check_tlm_pair": ([tlm_pair], {}),
    "check_stable_softmax": ([lambda x: torch.softmax(x, -1)], {}),
    "check_cross_entropy_gradient": ([gradient], {}),
    "check_joint_objective": ([joint_objective], {}),
    "check_warmup_decay": ([lambda s, w, t: linear_warmup_decay(TrainingConfig(steps=t, warmup_steps=w))(s)], {}),
    "check_clip_gradients": ([clip], {}),
    "check_masked_accuracy": ([accuracy], {}),
    "check_align_labels": ([align], {}),
    "check_mean_reciprocal_rank": ([lambda scores, relevant: float(np.mean(
        [1 / (1 + int((row > row[r]).sum())) for row, r in zip(scores, relevant, strict=True)]))], {}),
    "check_macro_f1": ([lambda t, p, n: float(f1_score(t, p, labels=list(range(n)), average="macro",
                                                       zero_division=0))], {}),
    "check_bleu": ([bleu], {}),
    "check_lora_linear": ([LoRALinear], {}),
    "check_lora_parameter_count": ([lambda d_in, d_out, r: r * (d_in + d_out)], {}),
    "check_int8_quantisation": ([quantise], {}),
    "check_distillation_loss": ([distillation_loss], {}),
    "check_alpha_experiment": ([drawn_shares, 8.0], {"languages": ["en"] * 500 + ["fr"] * 200 + ["sw"] * 10}),
    "check_token_premium_experiment": ([_premium, "fr"], {}),
    "check_scaling_experiment": ([attention_entropy, "falls"], {}),
    "check_order_experiment": ([order_gap, "zero"], {}),
    "check_retrieval_experiment": ([top1_accuracy, "UI pairs only"], {}),
    "check_window_experiment": ([spectrum, "long"], {}),
    "check_epsilon_experiment": ([gradient_error, 1e-5], {}),
    "check_temperature_experiment": ([hard_negative_share, "rises"], {}),
    "check_accumulation_experiment": ([accumulated_gradients, "same"], {}),
    "check_precision_experiment": ([relative_error, "bf16"], {}),
    "check_beam_experiment": ([_decode_and_score, "rises", _Echo(), None, [f"a b {i}" for i in range(40)],
                               [f"a c {i}" for i in range(40)], {1: 10.0, 4: 12.0}], {}),
    "check_segmentation_experiment": ([split_characters, "much lower"], {}),
    "check_pruning_experiment": ([first_level_losing, "a target language"], {}),
    "check_ddp_experiment": ([ddp_gradients, "different"], {}),
    "check_domain_experiment": ([probe, "UI messages"], {}),
    "check_baseline_experiment": ([probe, "no", {"French": 0.12, "Japanese": 0.07}], {}),
}
ALL = [check for checks in ex.CHECKS.values() for check in checks]


@pytest.fixture(autouse=True)
def _echoing_translator(monkeypatch):
    from xlm_course.applications import translation

    monkeypatch.setattr(translation, "translate", lambda model, tokenizer, texts, num_beams=1, **kwargs: list(texts))


def test_every_check_has_a_right_answer_here_and_takes_a_seed():
    assert sorted(RIGHT) == sorted(check.__name__ for check in ALL)
    for check in ALL:
        parameter = inspect.signature(check).parameters.get("seed")
        assert parameter is not None and parameter.default is None, check.__name__


@pytest.mark.parametrize("check", ALL, ids=lambda check: check.__name__)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_a_right_answer_passes_the_hidden_cases_of_every_seed(check, seed):
    args, kwargs = RIGHT[check.__name__]
    check(*args, **kwargs, seed=seed)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_a_seed_must_be_a_non_negative_int(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        ex.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril(), seed=seed)


def _recorder(answer, log):
    def recording(*args):
        log.append(repr(args))
        return answer(*args)
    return recording


@pytest.mark.parametrize("name", ["check_sampling_probabilities", "check_macro_f1", "check_lora_parameter_count",
                                  "check_joint_objective", "check_align_labels"])
def test_the_same_seed_draws_the_same_cases_and_another_seed_others(name):
    check, (args, kwargs) = getattr(ex, name), RIGHT[name]
    logs = {key: [] for key in ("public", "first", "again", "other")}
    for key, seed in (("public", None), ("first", 3), ("again", 3), ("other", 4)):
        check(_recorder(args[0], logs[key]), *args[1:], **kwargs, seed=seed)
    assert logs["first"] == logs["again"]
    assert logs["first"] != logs["other"] and not set(logs["first"]) & set(logs["public"])


def _memorised(check, answer):
    """Code that returns, for the notebook's inputs, what the right answer returned there, and something else for
    any other input: what a student who copied the expected values would hand in."""
    table = {}

    def learn(*args):
        table[repr(args)] = answer(*args)
        return table[repr(args)]

    check(learn)
    fallback = next(iter(table.values()))
    return lambda *args: table.get(repr(args), fallback)


@pytest.mark.parametrize("name", ["check_sampling_probabilities", "check_effective_languages", "check_macro_f1",
                                  "check_lora_parameter_count", "check_mean_reciprocal_rank", "check_causal_mask"])
def test_code_that_returns_the_notebooks_expected_values_fails_the_hidden_cases(name):
    check, answer = getattr(ex, name), RIGHT[name][0][0]
    copied = _memorised(check, answer)
    check(copied)  # the notebook's own cases: passed
    with pytest.raises(ex.ExerciseFailed):
        check(copied, seed=11)


def test_a_hidden_case_failure_says_what_went_wrong_like_a_public_one():
    def over_the_counts(counts, alpha):  # raises the counts, not the proportions: right at α = 1 only
        powered = np.array(counts, dtype=float) ** alpha
        return powered / powered.sum() if alpha == 1 else np.array(counts) ** alpha / sum(counts) ** alpha

    with pytest.raises(ex.ExerciseFailed, match="Hint:") as failure:
        ex.check_sampling_probabilities(over_the_counts, seed=5)
    assert "for counts" in str(failure.value)


# ---------------------------------------------------------------- partial credit


def _credit(check, candidate, *args):
    with pytest.raises(ex.ExerciseFailed) as failure:
        check(candidate, *args)
    return failure.value.credit, str(failure.value)


def test_a_check_with_independent_parts_credits_the_parts_that_are_right():
    def no_reset(*args):
        pair = tlm_pair(*args)
        return {**pair, "position_ids": list(range(2, 2 + len(pair["input_ids"])))}

    credit, message = _credit(ex.check_tlm_pair, no_reset)
    assert credit == pytest.approx(2 / 3) and "2 of 3 parts right (input_ids, token_type_ids)" in message
    assert "restart" in message

    def ignores_mask(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v)

    credit, message = _credit(ex.check_attention, ignores_mask)
    assert credit == 0.5 and "masked keys" in message

    def unclipped(hypotheses, references):  # right on the corpus sums and the brevity penalty, not on clipping
        if any(h.split().count("the") > r.split().count("the") for h, r in zip(hypotheses, references, strict=True)):
            return 1.0 + bleu(hypotheses, references)
        return bleu(hypotheses, references)

    credit, message = _credit(ex.check_bleu, unclipped)
    assert credit == pytest.approx(2 / 3) and "clip" in message

    credit, message = _credit(ex.check_warmup_decay, lambda s, w, t: min(s / w, (t - s) / max(t - w, 1)))
    assert credit == 0.5 and "1 of 2 parts right (decay)" in message and "step 0" in message

    credit, message = _credit(ex.check_mask_tokens, lambda ids, m, special, vocab, g: mask_tokens(
        ids, m, special, vocab, mlm_probability=0.3, generator=g))  # twice the tokens, split and generator right
    assert credit == pytest.approx(2 / 3) and "about 15%" in message


def test_an_unwritten_or_wholly_wrong_answer_earns_no_credit():
    def unwritten(*args):
        raise NotImplementedError

    credit, message = _credit(ex.check_tlm_pair, unwritten)
    assert credit == 0 and message.count("not written yet") == 1
    credit, _ = _credit(ex.check_bleu, lambda h, r: 0.0)
    assert credit == 0
    credit, _ = _credit(ex.check_stable_softmax, lambda x: x)  # a check without parts: all or nothing
    assert credit == 0


def test_distillation_hidden_cases_still_name_the_t_squared_mistake():
    def without_t_squared(student, teacher, labels, temperature, alpha):
        soft = F.kl_div(F.log_softmax(student / temperature, -1), F.softmax(teacher / temperature, -1),
                        reduction="batchmean")
        return alpha * F.cross_entropy(student, labels) + (1 - alpha) * soft

    with pytest.raises(ex.ExerciseFailed, match="T²"):
        ex.check_distillation_loss(without_t_squared, seed=2)


def test_the_pruning_hidden_table_has_no_drop_on_a_threshold():
    """The hidden accuracies never lose exactly the threshold, where float rounding would decide the answer."""
    asked = []

    def recording(table, points):
        asked.append((table.copy(), points))
        return first_level_losing(table, points)

    for seed in range(20):
        ex.check_pruning_experiment(recording, "English", seed=seed)
    for table, points in asked:
        lost = (table.iloc[0] - table) * 100 - points
        assert (lost.abs() > 0.005).all().all(), (table, points)

