"""Knowledge distillation from a fine-tuned teacher to a smaller student (chapter 8.3).

The student learns from the teacher's *soft labels*: L = α·CE(student, y) + (1 − α)·T²·KL(p_T ‖ p_S), with
both distributions softened by a temperature T {cite}`hinton2015distilling`; the T² keeps the gradient scale
of the soft term independent of T. Rows without a gold label (label −1) contribute only the soft term, so the
teacher can label *unlabelled* target-language text: the student then learns the other languages from the
teacher's zero-shot predictions, without one human label in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from ..models.source import EncoderSource
from ..runtime import resolve
from ..training import History, RunConfig, step_generator, step_rows, train
from ..validation import check_fraction, check_positive_number, check_positive_numbers

UNLABELLED = -1


@dataclass(frozen=True)
class DistillationConfig(RunConfig):
    """The run (warm-up: a tenth of the steps), the temperature T and the weight α of the gold-label term."""

    steps: int = 600  # twice the base: the student learns the teacher's whole distribution, not only its labels
    learning_rate: float = 1e-3  # a small student takes a larger rate than the base's 5e-4
    warmup_steps: int = 60  # a tenth of the steps, as the base's 30 of 300
    temperature: float = 2.0  # T > 1 softens both distributions, so the teacher's small probabilities count
    alpha: float = 0.5  # the gold labels' weight; 1 − α goes to the teacher's soft labels

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_numbers(self, "temperature")
        check_fraction("alpha", self.alpha)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """α·CE on the labelled rows + (1 − α)·T²·KL(teacher ‖ student) on every row (both softened by T)."""
    check_positive_number("temperature", temperature)
    check_fraction("alpha", alpha)
    if student_logits.shape != teacher_logits.shape or labels.shape != student_logits.shape[:1]:
        raise ValueError(f"logits must share a shape (N, C) and labels be (N,); got {tuple(student_logits.shape)}, "
                         f"{tuple(teacher_logits.shape)} and {tuple(labels.shape)}")
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1), log_target=True,
                    reduction="batchmean") * temperature**2
    labelled = labels != UNLABELLED
    if not labelled.any():  # a batch of unlabelled rows: the soft term alone, with the same weight as always
        return (1 - alpha) * soft
    hard = F.cross_entropy(student_logits[labelled], labels[labelled])
    return alpha * hard + (1 - alpha) * soft


def distill(teacher: PreTrainedModel, student: PreTrainedModel, source: EncoderSource, texts: Sequence[str],
            languages: Sequence[str], labels: Sequence[int], config: DistillationConfig = DistillationConfig(),
            use_teacher: bool = True) -> History:
    """Train ``student`` on ``texts`` (gold ``labels``, −1 where there is none) with the teacher's soft labels;
    with ``use_teacher=False`` only the gold labels are used (the baseline without distillation)."""
    if not (len(texts) == len(languages) == len(labels)) or not texts:
        raise ValueError("texts, languages and labels must be non-empty and of the same length")
    gold = torch.tensor(list(labels))
    if not use_teacher and not (gold != UNLABELLED).any():
        raise ValueError("without the teacher, some rows need a gold label")
    rows = list(range(len(texts))) if use_teacher else (gold != UNLABELLED).nonzero().flatten().tolist()
    device, _ = resolve(config.device, config.precision)
    teacher.to(device).eval()

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = [rows[i] for i in step_rows(len(rows), config.batch_size, step_generator(config.seed, step))]
        inputs = source.encode([texts[i] for i in chosen], [languages[i] for i in chosen], config.max_length)
        return {**inputs, "labels": gold[chosen]}

    def loss_fn(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {key: value for key, value in batch.items() if key != "labels"}
        logits = model(**inputs).logits.float()
        if not use_teacher:
            return {"loss": F.cross_entropy(logits, batch["labels"])}
        with torch.no_grad():  # the teacher runs beside the student, on the same device and batch
            teacher_logits = teacher(**inputs).logits.float()
        return {"loss": distillation_loss(logits, teacher_logits, batch["labels"], config.temperature,
                                          config.alpha)}

    return train(student, loss_fn, batch_fn, config.training(progress=False))
