"""Knowledge distillation (chapter 8.3): the loss against its definition, and a short run."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.deployment.distillation import UNLABELLED, DistillationConfig, distill, distillation_loss


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 6), st.integers(2, 5), st.floats(0.5, 4.0), st.floats(0.0, 1.0), st.integers(0, 10**6))
def test_loss_is_the_weighted_sum_of_its_definition(n, classes, temperature, alpha, seed):
    generator = torch.Generator().manual_seed(seed)
    student, teacher = torch.randn(n, classes, generator=generator), torch.randn(n, classes, generator=generator)
    labels = torch.randint(classes, (n,), generator=generator)
    p_teacher = F.softmax(teacher / temperature, -1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(student / temperature, -1))).sum(-1).mean()
    expected = alpha * F.cross_entropy(student, labels) + (1 - alpha) * temperature**2 * kl
    torch.testing.assert_close(distillation_loss(student, teacher, labels, temperature, alpha), expected)


def test_unlabelled_rows_only_feel_the_teacher():
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    unlabelled = torch.full((4,), UNLABELLED)
    soft = distillation_loss(student, teacher, unlabelled, 2.0, 0.5)
    torch.testing.assert_close(soft, 0.5 * distillation_loss(student, teacher, unlabelled, 2.0, 0.0))
    assert distillation_loss(teacher, teacher, unlabelled).abs() < 1e-6  # a perfect copy of the teacher
    mixed = torch.tensor([0, UNLABELLED, 2, UNLABELLED])
    hard = F.cross_entropy(student[[0, 2]], mixed[[0, 2]])
    torch.testing.assert_close(distillation_loss(student, teacher, mixed, 2.0, 1.0), hard)
    with pytest.raises(ValueError, match="share a shape"):
        distillation_loss(student, teacher[:, :2], mixed)


@pytest.mark.parametrize("temperature, alpha, message", [(0.0, 0.5, "temperature"), (-1.0, 0.5, "temperature"),
                                                         (2.0, 1.5, "alpha"), (2.0, -0.1, "alpha")])
def test_the_loss_itself_rejects_a_zero_temperature_and_alpha_outside_zero_one(temperature, alpha, message):
    # Bug: distillation_loss divided by T = 0 (inf/nan) and weighted with α outside [0, 1] without a word.
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=message):
        distillation_loss(logits, logits, torch.tensor([0, 1]), temperature=temperature, alpha=alpha)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="temperature"):
        DistillationConfig(temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        DistillationConfig(alpha=1.5)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        DistillationConfig(steps=0, warmup_steps=0)


def test_a_short_distillation_is_deterministic(tiny_source):
    teacher = tiny_source.classifier(("a", "b", "c"), seed=1).eval()
    texts, languages = ["dog", "chat", "Hund", "pizza"], ["en", "fr", "de", "en"]
    labels = [0, UNLABELLED, UNLABELLED, 2]
    config = DistillationConfig(steps=3, batch_size=2, warmup_steps=0)
    students = [tiny_source.classifier(("a", "b", "c"), seed=0) for _ in range(2)]
    histories = [distill(teacher, student, tiny_source, texts, languages, labels, config) for student in students]
    assert [row["loss"] for row in histories[0].losses] == [row["loss"] for row in histories[1].losses]
    with pytest.raises(ValueError, match="some rows need a gold label"):
        distill(teacher, students[0], tiny_source, texts, languages, [UNLABELLED] * 4, config, use_teacher=False)
