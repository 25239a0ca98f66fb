"""The pretraining objectives of a cross-lingual encoder (chapters 3 and 4).

* cross-entropy, written out: CE(z, y) = −z_y + log Σ_v exp(z_v), whose gradient is softmax(z) − onehot(y);
* MLM: the cross-entropy averaged over the masked set M only (labels −100 elsewhere) {cite}`devlin2019bert`;
* TLM: the same loss on a sentence concatenated with its translation {cite}`lample2019cross`;
* L_cross: InfoNCE over a batch of parallel pairs — each sentence must pick its own translation among the
  batch's translations, with cosine similarities divided by a temperature τ {cite}`feng2022labse`;
* the joint objective L = L_MLM + L_TLM + λ·L_cross;
* :func:`masked_lm_accuracy`, the share of masked tokens an MLM predicts exactly (chapters 3.2, 8.2);
* and :func:`numerical_gradient`, the central finite differences that check each derivation (chapter 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase, XLMRobertaForMaskedLM

from .runtime import evaluating, to_device
from .text.inputs import encode
from .text.masking import IGNORE_INDEX, mask_batch
from .training import step_generator
from .validation import check_positive_int, check_positive_number


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Mean of −log softmax(z)_y over the rows whose target is not ``ignore_index`` (chapter 4, eq. CE)."""
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, V) and targets (N,), got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    keep = targets != ignore_index
    if not keep.any():
        raise ValueError("every target is ignore_index: there is nothing to compute the loss on")
    z, y = logits[keep], targets[keep]
    return (torch.logsumexp(z, dim=-1) - z.gather(1, y[:, None]).squeeze(1)).mean()


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked LM loss: cross-entropy over the masked positions (labels != −100) of a (..., V) output."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def masked_lm_loss(model: XLMRobertaForMaskedLM, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """MLM loss of a masked batch (with ``labels``), projecting to the vocabulary at the masked positions only.

    Same value as ``model(**inputs).loss``, but the vocabulary projection, most of a small model's compute, runs
    on about 15% of the tokens instead of all of them (benchmarks/pretraining_throughput.py measures the gain).
    """
    if "labels" not in inputs:
        raise ValueError(f"inputs need 'labels' (−100 where nothing is predicted); got keys {sorted(inputs)}")
    encoder_inputs = {key: value for key, value in inputs.items() if key != "labels"}
    labels = inputs["labels"]
    hidden = model.roberta(**encoder_inputs).last_hidden_state
    selected = labels != IGNORE_INDEX
    if not selected.any():  # a batch of very short texts may have nothing masked: a zero that keeps the graph
        return hidden.sum() * 0.0
    return mlm_loss(model.lm_head(hidden[selected]), labels[selected])


def masked_lm_accuracy(model: XLMRobertaForMaskedLM, tokenizer: PreTrainedTokenizerBase,
                       language_ids: Mapping[str, int] | None, texts: Sequence[str], lang: str, max_length: int = 32,
                       draws: int = 5, seed: int = 0, device: torch.device | str | None = None,
                       precision: str | None = None) -> float:
    """Share of masked tokens predicted exactly on ``texts`` in ``lang``, over ``draws`` fixed masking draws
    (short texts have few masked tokens; several draws steady the estimate). Written out in chapter 3.2."""
    if not texts:
        raise ValueError("texts is empty")
    check_positive_int("draws", draws)
    inputs = encode(tokenizer, list(texts), [lang] * len(texts), language_ids, max_length)
    correct = total = 0
    with evaluating(model, device, precision) as chosen:
        for draw in range(draws):
            masked = to_device(mask_batch(inputs, tokenizer, step_generator(seed, draw)), chosen)
            labels = masked.pop("labels")
            selected = labels != IGNORE_INDEX
            hidden = model.roberta(**masked).last_hidden_state
            correct += int((model.lm_head(hidden[selected]).argmax(-1) == labels[selected]).sum())
            total += int(selected.sum())
    return correct / total if total else float("nan")


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float = 0.05,
             symmetric: bool = True) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row i of ``anchors`` must match row i of ``positives``.

    s_ij = cos(a_i, b_j) / τ and L = mean_i −log softmax_j(s_ij)[i] {cite}`oord2018representation`; with
    ``symmetric`` the loss of the other direction (b → a, the columns of s) is averaged in, so swapping the
    arguments gives the same loss. LaBSE's bidirectional ranking loss {cite}`feng2022labse` is this with an
    additive margin subtracted from s_ii.
    """
    if anchors.shape != positives.shape or anchors.ndim != 2:
        raise ValueError(f"anchors and positives must both be (N, d), got {tuple(anchors.shape)} and "
                         f"{tuple(positives.shape)}")
    check_positive_number("temperature", temperature)
    scores = F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T / temperature
    targets = torch.arange(len(scores), device=scores.device)
    loss = F.cross_entropy(scores, targets)
    return (loss + F.cross_entropy(scores.T, targets)) / 2 if symmetric else loss


def joint_objective(mlm: torch.Tensor, tlm: torch.Tensor | None = None, cross: torch.Tensor | None = None,
                    lam: float = 1.0) -> torch.Tensor:
    """L = L_MLM + L_TLM + λ·L_cross; a missing term counts as 0 (an ablation)."""
    if lam < 0:
        raise ValueError(f"λ weighs a loss and must be non-negative, got {lam!r}")
    total = mlm
    if tlm is not None:
        total = total + tlm
    if cross is not None and lam > 0:
        total = total + lam * cross
    return total


def numerical_gradient(function: Callable[[torch.Tensor], torch.Tensor], point: torch.Tensor,
                       eps: float = 1e-6) -> torch.Tensor:
    """∂f/∂x by central differences, (f(x + εe_i) − f(x − εe_i)) / 2ε for each entry i; error O(ε²).

    ``function`` maps a tensor shaped like ``point`` to a scalar. Use float64: in float32 the rounding error
    of f, about 1e-7 / ε, swamps the result.
    """
    if point.dtype != torch.float64:
        raise TypeError(f"use a float64 point for finite differences, got {point.dtype}")
    check_positive_number("eps", eps)
    flat = point.detach().clone().reshape(-1)
    gradient = torch.empty_like(flat)
    for index in range(flat.numel()):
        original = flat[index].item()
        flat[index] = original + eps
        upper = float(function(flat.view_as(point)))
        flat[index] = original - eps
        lower = float(function(flat.view_as(point)))
        flat[index] = original
        gradient[index] = (upper - lower) / (2 * eps)
    return gradient.view_as(point)
