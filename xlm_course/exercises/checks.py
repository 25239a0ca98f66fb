"""The checks behind the exercise notebooks (``exercises/``): each says what is wrong and hints at a fix.

A check takes the learner's function (or class) and tries it on inputs chosen to expose the usual mistakes,
comparing with the course's own implementation. It prints ``✓`` when the task is solved and otherwise raises
:class:`ExerciseFailed`, whose message names the input that went wrong, what came back, what was expected,
and a hint. A check never passes an unfinished stub: ``NotImplementedError`` is reported as "not written yet".

Every check also takes ``seed``: given one, it tries the learner's code on *hidden* cases drawn from it instead of
the notebook's (same shapes of problem, other sizes and numbers), which is how ``xlm-course grade`` tells code that
computes the answer from code that returns the notebook's expected values. A check whose parts are independent
(three fields, two phases, three cases that test three different skills) checks every part and, when some fail,
raises :class:`ExerciseFailed` with the share that passed as its ``credit``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import sacrebleu
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from ..data.sampling import sampling_probabilities
from ..models.attention import scaled_dot_product_attention
from ..objectives import info_nce
from ..ranking import ranking_metrics
from ..text.inputs import tlm_ids
from ..training import TrainingConfig, linear_warmup_decay


class ExerciseFailed(AssertionError):
    """A task's check failed; the message says what was wrong and gives a hint. ``credit`` is the share of the
    check's independent parts that passed (0 when it has none); ``unwritten`` says that the learner's function
    still raises NotImplementedError, so that no part of the check can pass."""

    def __init__(self, message: str, credit: float = 0.0, unwritten: bool = False) -> None:
        super().__init__(message)
        self.credit, self.unwritten = credit, unwritten


def _fail(task: str, problem: str, hint: str) -> None:
    raise ExerciseFailed(f"✗ {task}: {problem}\n  Hint: {hint}")


def _hidden(seed: int | None) -> np.random.Generator | None:
    """The random numbers of a check's hidden cases, or None for the notebook's own cases."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None (the notebook's cases) or a non-negative int (hidden cases), got {seed!r}")
    return np.random.default_rng(int(seed))


def _torch_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


class _Parts:
    """The independent parts of one check, for partial credit: each ``with parts.part(name):`` block that fails
    is recorded and the next one still runs; :meth:`finish` passes, or fails with every failed part's message and
    the share of parts that passed. An unwritten function fails the whole check at once."""

    def __init__(self, task: str, names: Sequence[str]) -> None:
        self.task, self.names, self.failed = task, list(names), {}

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        if name not in self.names:
            raise ValueError(f"{name!r} is not one of this check's parts: {self.names}")
        try:
            yield
        except ExerciseFailed as failure:
            if failure.unwritten:
                raise
            self.failed[name] = str(failure)

    def finish(self, message: str = "correct") -> None:
        if not self.failed:
            print(f"✓ {self.task}: {message}")
            return
        right = [name for name in self.names if name not in self.failed]
        summary = (f"✗ {self.task}: {len(right)} of {len(self.names)} parts right"
                   + (f" ({', '.join(right)})" if right else ""))
        raise ExerciseFailed("\n".join([summary, *self.failed.values()]), credit=len(right) / len(self.names))


def _passed(task: str) -> None:
    print(f"✓ {task}: correct")


def _call(task: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's code, turning its errors into feedback."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseFailed(f"✗ {task}: not written yet (the function still raises NotImplementedError)\n  Hint: "
                             "replace the `raise NotImplementedError` line with your code", unwritten=True) from None
    except ExerciseFailed:
        raise
    except Exception as error:  # the learner's bug: report it as feedback, not as a crash of the checker
        _fail(task, f"calling it with {_describe(args, kwargs)} raised {type(error).__name__}: {error}",
              "run that call yourself in a new cell and read the traceback")


def _describe(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _float(task: str, value: Any, what: str) -> float:
    if (isinstance(value, torch.Tensor) and value.numel() == 1) or (isinstance(value, np.ndarray) and value.size == 1):
        value = value.item()  # a one-element tensor or array is a number written another way
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        _fail(task, f"{what} should be a number, got {type(value).__name__}", "return a float (use .item() on a tensor)")
    return float(value)


def _as_array(task: str, value: Any, what: str) -> np.ndarray:
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().astype(np.float64)
        if isinstance(value, dict):
            value = list(value.values())
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(task, f"{what} should be numbers, got {type(value).__name__}",
              "return a list, NumPy array or tensor of floats")


# ---------------------------------------------------------------- chapter 1: data and sampling


def check_sampling_probabilities(function: Callable[[Sequence[int], float], Sequence[float]],
                                 seed: int | None = None) -> None:
    """Chapter 1, task 1: ``function(counts, alpha)`` returns q_i = p_i^α / Σ_j p_j^α, one per count."""
    task = "α-sampling probabilities"
    cases = [([900, 90, 10], 1.0), ([900, 90, 10], 0.5), ([900, 90, 10], 0.3), ([5, 5], 0.7),
             ([10**9, 1], 0.1)]
    if (rng := _hidden(seed)) is not None:
        cases = [([int(n) for n in rng.integers(1, 10 ** rng.integers(2, 8), size=rng.integers(2, 9))],
                  alpha) for alpha in (1.0, *np.round(rng.uniform(0.05, 0.95, size=3), 3).tolist())]
    for counts, alpha in cases:
        got = _as_array(task, _call(task, function, list(counts), alpha), "the probabilities")
        expected = np.array(list(sampling_probabilities(dict(enumerate(counts)), alpha).values()))
        if got.shape != expected.shape:
            _fail(task, f"for counts {counts} you returned {got.size} numbers, expected {expected.size}",
                  "one probability per language, in the order of the counts")
        if not math.isclose(got.sum(), 1.0, abs_tol=1e-6):
            _fail(task, f"for counts {counts} and α={alpha} your probabilities sum to {got.sum():.4f}",
                  "divide p_i^α by the sum over all languages of p_j^α")
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-9):
            hint = ("at α = 1 the result must equal the plain proportions n_i / Σ n_j" if alpha == 1.0 else
                    "raise the *proportions* p_i = n_i / Σ n_j (not the counts' ranks) to the power α, then "
                    "renormalise")
            _fail(task, f"for counts {counts} and α={alpha} you returned {np.round(got, 4).tolist()}, expected "
                  f"{np.round(expected, 4).tolist()}", hint)
    _passed(task)


def check_effective_languages(function: Callable[[Sequence[float]], float], seed: int | None = None) -> None:
    """Chapter 1, task 2: ``function(probabilities)`` returns exp(H(q)), the effective number of languages."""
    task = "effective number of languages"
    cases = [[0.25] * 4, [1.0, 0.0, 0.0], [0.9, 0.09, 0.01], [0.5, 0.5]]
    if (rng := _hidden(seed)) is not None:
        sizes = rng.integers(2, 12, size=4)
        cases = [[1 / int(sizes[0])] * int(sizes[0])]
        for size in sizes[1:]:
            q = rng.dirichlet(np.full(int(size), 0.5))
            q[rng.random(int(size)) < 0.2] = 0.0  # some languages never drawn: 0 · log 0 counts as 0
            q = q / q.sum() if q.sum() > 0 else np.eye(int(size))[0]
            cases.append(q.tolist())
    for q in cases:
        got = _float(task, _call(task, function, list(q)), "the effective number of languages")
        p = np.array(q)
        nonzero = p[p > 0]
        expected = float(np.exp(-(nonzero * np.log(nonzero)).sum()))
        if not math.isfinite(got):
            _fail(task, f"for {q} you returned {got!r}, expected a finite number",
                  "0 · log 0 counts as 0: skip the zero probabilities")
        if not math.isclose(got, expected, rel_tol=1e-6):
            _fail(task, f"for {q} you returned {got:.4f}, expected {expected:.4f}",
                  "H = −Σ q_i ln q_i in nats (natural log), and the answer is e^H; four equal languages give 4")
    _passed(task)


def check_fertility(function: Callable[[Callable[[str], list[str]], Sequence[str]], float],
                    seed: int | None = None) -> None:
    """Chapter 1, task 3: ``function(tokenize, sentences)`` returns subword tokens per whitespace word."""
    task = "tokenizer fertility"

    def by_characters(text: str) -> list[str]:
        return [c for c in text if not c.isspace()]

    def by_pairs(text: str) -> list[str]:
        return [word[i:i + 2] for word in text.split() for i in range(0, len(word), 2)]

    cases = [(by_characters, ["a bc", "def"], 6 / 3), (by_pairs, ["abcd ef", "g hijkl"], 7 / 4),
             (str.split, ["one two three", "four"], 1.0)]
    if (rng := _hidden(seed)) is not None:
        def sentence() -> str:
            return " ".join("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=rng.integers(1, 12)))
                            for _ in range(rng.integers(1, 9)))

        cases = []
        for tokenize in (by_characters, by_pairs, str.split):
            sentences = [sentence() for _ in range(rng.integers(2, 6))]
            tokens = sum(len(tokenize(s)) for s in sentences)
            cases.append((tokenize, sentences, tokens / sum(len(s.split()) for s in sentences)))
    for tokenize, sentences, expected in cases:
        got = _float(task, _call(task, function, tokenize, list(sentences)), "the fertility")
        if not math.isclose(got, expected, rel_tol=1e-6):
            _fail(task, f"with sentences {sentences} and a tokenizer giving "
                  f"{[tokenize(s) for s in sentences]} you returned {got!r}, expected {expected:.4f}",
                  "count tokens and words over *all* sentences, then divide the totals (not the mean of ratios)")
    _passed(task)


# ---------------------------------------------------------------- chapter 2: attention


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def check_attention(function: Callable[..., tuple[torch.Tensor, torch.Tensor]], seed: int | None = None) -> None:
    """Chapter 2, task 1: ``function(query, key, value, mask=None)`` returns (output, weights) of
    softmax(QKᵀ/√d_k + M) V, with ``mask`` boolean and True where attention is allowed. Its two parts, without
    and with a mask, earn credit apart."""
    task = "scaled dot-product attention"
    (batch, queries, keys, d_k, d_v, kept), seeds = (2, 3, 5, 8, 4, 3), (1, 2, 3)
    if (rng := _hidden(seed)) is not None:
        batch, queries, keys, d_k, d_v = (int(n) for n in rng.integers(1, 7, size=5) + [0, 0, 1, 1, 0])
        kept, seeds = int(rng.integers(1, keys)), tuple(_torch_seed(rng) for _ in range(3))
    q, k, v = (_random(batch, queries, d_k, seed=seeds[0]), _random(batch, keys, d_k, seed=seeds[1]),
               _random(batch, keys, d_v, seed=seeds[2]))
    mask = (torch.arange(keys) < kept).expand(queries, keys)
    parts = _Parts(task, ["without a mask", "with a padding mask"])
    for case, kwargs in (("without a mask", {}), ("with a padding mask", {"mask": mask})):
        with parts.part(case):
            _attention_case(task, function, case, q, k, v, kwargs, kept)
    parts.finish()


def _attention_case(task: str, function: Callable[..., Any], case: str, q: torch.Tensor, k: torch.Tensor,
                    v: torch.Tensor, kwargs: dict[str, Any], kept: int) -> None:
    result = _call(task, function, q, k, v, **kwargs)
    if not isinstance(result, tuple) or len(result) != 2:
        _fail(task, f"{case} you returned {type(result).__name__}, expected (output, weights)",
              "return both the weighted values and the attention weights")
    output, weights = result
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v, **kwargs)
    if tuple(weights.shape) != tuple(expected_weights.shape):
        _fail(task, f"{case}: weights have shape {tuple(weights.shape)}, expected "
              f"{tuple(expected_weights.shape)}", "Q Kᵀ: transpose the last two dimensions of K only")
    if not torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-5):
        _fail(task, f"{case}: the weights of a query do not sum to 1", "softmax over the *last* dimension (keys)")
    if "mask" in kwargs and weights[..., kept:].abs().max() > 1e-6:
        _fail(task, "masked keys still receive weight", "fill the scores where mask is False with −inf "
              "before the softmax")
    if not torch.allclose(weights, expected_weights, atol=1e-5):
        _fail(task, f"{case}: the weights differ from softmax(QKᵀ/√d_k) by up to "
              f"{(weights - expected_weights).abs().max():.3g}",
              f"divide the scores by √d_k = √{q.shape[-1]}, not by d_k")
    if not torch.allclose(output, expected_output, atol=1e-5):
        _fail(task, f"{case}: the output differs by up to {(output - expected_output).abs().max():.3g}",
              "the output is weights @ V")


def check_split_heads(function: Callable[[torch.Tensor, int], torch.Tensor], seed: int | None = None) -> None:
    """Chapter 2, task 2: ``function(x, heads)`` turns (B, T, H) into (B, heads, T, H / heads), head h holding
    features h·d … (h+1)·d − 1 of every position."""
    task = "splitting into heads"
    batch, length, heads, d = 2, 3, 4, 2
    if (rng := _hidden(seed)) is not None:
        batch, length, heads, d = (int(n) for n in rng.integers(1, 6, size=4) + [0, 1, 1, 0])
    x = torch.arange(batch * length * heads * d, dtype=torch.float).reshape(batch, length, heads * d)
    got = _call(task, function, x, heads)
    expected = x.view(batch, length, heads, d).transpose(1, 2)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        _fail(task, f"for x of shape {tuple(x.shape)} and {heads} heads you returned shape "
              f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}, expected "
              f"{tuple(expected.shape)}", "view as (B, T, heads, d), then move the head axis before the time axis")
    if not torch.equal(got, expected):
        _fail(task, "the shape is right but the numbers are in the wrong places",
              "x.view(B, T, heads, d).transpose(1, 2) — a plain reshape to (B, heads, T, d) mixes positions")
    _passed(task)


def check_causal_mask(function: Callable[[int], torch.Tensor], seed: int | None = None) -> None:
    """Chapter 2, task 3: ``function(length)`` returns the (L, L) boolean mask of a decoder: True where
    position i may attend to position j, i.e. j ≤ i."""
    task = "causal mask"
    lengths = (1, 4, 7) if (rng := _hidden(seed)) is None else (int(n) for n in rng.integers(2, 40, size=3))
    for length in lengths:
        got = _call(task, function, length)
        expected = torch.ones(length, length, dtype=torch.bool).tril()
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            _fail(task, f"for length {length} you returned {type(got).__name__}"
                  f"{'' if not isinstance(got, torch.Tensor) else ' of dtype ' + str(got.dtype)}",
                  "return a boolean tensor (True = may attend)")
        if not torch.equal(got, expected):
            _fail(task, f"for length {length} you returned\n{got.int()}\n  expected\n{expected.int()}",
                  "a token sees itself and the past: the lower triangle, diagonal included (torch.tril)")
    _passed(task)


# ---------------------------------------------------------------- chapter 3: pretraining objectives


def check_mask_tokens(function: Callable[..., tuple[torch.Tensor, torch.Tensor]], seed: int | None = None) -> None:
    """Chapter 3, task 1: ``function(input_ids, mask_id, special_ids, vocab_size, generator)`` returns
    (masked_ids, labels) with BERT's recipe: 15% of ordinary tokens chosen; of those 80% → mask, 10% → a random
    token, 10% kept; labels −100 wherever nothing is predicted. The choice, the split and the use of the generator
    earn credit apart."""
    task = "MLM masking"
    vocab, mask_id, special, seeds = 1000, 4, [0, 1, 2, 3, 4], (0, 1, 2, 3)
    if (rng := _hidden(seed)) is not None:
        vocab, seeds = int(rng.integers(500, 50_000)), tuple(_torch_seed(rng) for _ in range(4))
    ids = torch.randint(5, vocab, (200, 64), generator=torch.Generator().manual_seed(seeds[0]))
    ids[:, 0], ids[:, -1] = 0, 2  # <s> ... </s>
    result = _call(task, function, ids.clone(), mask_id, special, vocab, torch.Generator().manual_seed(seeds[1]))
    if not isinstance(result, tuple) or len(result) != 2:
        _fail(task, f"you returned {type(result).__name__}, expected (masked_ids, labels)",
              "return the masked inputs and the labels")
    masked, labels = result
    if tuple(masked.shape) != tuple(ids.shape) or tuple(labels.shape) != tuple(ids.shape):
        _fail(task, "masked_ids and labels must have the shape of input_ids", "work element-wise")
    chosen = labels != -100
    parts = _Parts(task, ["choosing 15% of ordinary tokens", "the 80/10/10 split", "the generator and the replacements"])
    with parts.part("choosing 15% of ordinary tokens"):
        if (labels[chosen] != ids[chosen]).any():
            _fail(task, "a label differs from the original token at a chosen position",
                  "labels hold the *original* ids where a prediction is made, −100 elsewhere")
        if chosen[:, 0].any() or chosen[:, -1].any():
            _fail(task, "special tokens (<s>, </s>) were chosen for prediction", "never select special ids")
        rate = chosen.float().mean().item() / (62 / 64)
        if not 0.13 < rate < 0.17:
            _fail(task, f"{rate:.1%} of ordinary tokens were chosen, expected about 15%",
                  "draw one uniform number per token and choose it when the number is below 0.15")
        if (masked[~chosen] != ids[~chosen]).any():
            _fail(task, "tokens that were not chosen were changed", "only chosen positions may change")
    with parts.part("the 80/10/10 split"):
        as_mask = (masked[chosen] == mask_id).float().mean().item()
        kept = (masked[chosen] == ids[chosen]).float().mean().item()
        if not (0.76 < as_mask < 0.84 and 0.07 < kept < 0.13):
            _fail(task, f"of the chosen tokens {as_mask:.0%} became the mask and {kept:.0%} were kept, expected "
                  "about 80% and 10% (plus 10% random)", "a second uniform number per token: < 0.8 mask, "
                  "0.8–0.9 random ordinary token, ≥ 0.9 keep")
    with parts.part("the generator and the replacements"):
        # A vocabulary of 12 ids, 5 of them special: a replacement drawn from every id, or beyond the vocabulary, shows
        # in almost every run here (in the large one above only one draw in 200 lands on a special id).
        small_vocab = 12
        small = torch.randint(5, small_vocab, (400, 32), generator=torch.Generator().manual_seed(seeds[2]))
        first = _call(task, function, small.clone(), mask_id, special, small_vocab, torch.Generator().manual_seed(seeds[3]))
        again = _call(task, function, small.clone(), mask_id, special, small_vocab, torch.Generator().manual_seed(seeds[3]))
        if not all(isinstance(r, tuple) and len(r) == 2 for r in (first, again)) or not (
                torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])):
            _fail(task, "the same generator, seeded the same, gave different results",
                  "draw every random number from the generator you are given (generator=generator), not torch's global one")
        small_masked, small_labels = first
        picked = small_labels != -100
        for size, before, after, where in ((vocab, ids, masked, chosen), (small_vocab, small, small_masked, picked)):
            randoms = after[where][(after[where] != mask_id) & (after[where] != before[where])]
            outside = (randoms < 0) | (randoms >= size)
            if outside.any():
                _fail(task, f"with vocab_size {size} a random replacement was {int(randoms[outside][0])}",
                      "draw replacement ids in 0 … vocab_size − 1")
            if torch.isin(randoms, torch.tensor(special)).any():
                _fail(task, "a random replacement was a special token",
                      "draw replacements among ordinary ids only (not among all ids of the vocabulary)")
    parts.finish()


def check_info_nce(function: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
                   seed: int | None = None) -> None:
    """Chapter 3, task 2: ``function(anchors, positives, temperature)`` returns the one-directional InfoNCE
    loss with in-batch negatives on cosine similarities."""
    task = "InfoNCE loss"
    (rows, dim, seeds), temperatures = (6, 16, (4, 5)), (0.05, 1.0)
    if (rng := _hidden(seed)) is not None:
        rows, dim, seeds = int(rng.integers(2, 20)), int(rng.integers(2, 64)), (_torch_seed(rng), _torch_seed(rng))
        temperatures = tuple(np.round(rng.uniform(0.02, 2.0, size=2), 3).tolist())
    a, b = _random(rows, dim, seed=seeds[0]), _random(rows, dim, seed=seeds[1])
    for temperature in temperatures:
        got = _call(task, function, a, b, temperature)
        expected = info_nce(a, b, temperature, symmetric=False)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            _fail(task, f"you returned {_short(got)}, expected a scalar tensor", "average over the batch")
        if not torch.allclose(got.reshape(()), expected, atol=1e-5):
            targets = torch.arange(len(a))
            unnormalised = torch.nn.functional.cross_entropy(a @ b.T / temperature, targets)
            if torch.isclose(got.reshape(()), unnormalised, atol=1e-4):
                hint = "normalise both sides to unit length first: the scores are *cosine* similarities"
            elif torch.isclose(got.reshape(()), info_nce(a, b, temperature, symmetric=True), atol=1e-5):
                hint = "one direction only here (anchors → positives), not the average of both"
            else:
                hint = "scores s_ij = cos(a_i, b_j) / τ; loss = cross-entropy of each row, the diagonal as target"
            _fail(task, f"at τ = {temperature} your loss is {float(got):.4f}, expected {float(expected):.4f}", hint)
    perfect = _call(task, function, a, a * 2.0, 0.01)
    aligned = float(info_nce(a, a * 2.0, 0.01, symmetric=False))  # near 0, unless two rows point the same way
    if abs(float(perfect) - aligned) > 1e-3:
        _fail(task, f"identical directions should give a loss of {aligned:.4f} at τ = 0.01, got {float(perfect):.4f}",
              "cosine similarity ignores length: normalise")
    _passed(task)


def check_gated_fusion(module_class: type, seed: int | None = None) -> None:
    """Chapter 3, task 3: ``module_class(text_dim, image_dim, hidden)``, called on (text, image), returns
    (h, z) of a gated multimodal unit: z = σ(W_z [t; v]), h = z ⊙ tanh(W_t t) + (1 − z) ⊙ tanh(W_v v),
    with ``nn.Linear`` layers named ``text``, ``image`` and ``gate``."""
    task = "gated fusion"
    (text_dim, image_dim, hidden, rows), seeds = (6, 4, 5, 3), (6, 7)
    if (rng := _hidden(seed)) is not None:
        (text_dim, image_dim, hidden, rows), seeds = rng.integers(1, 12, size=4).tolist(), (_torch_seed(rng), 0)
        seeds = (seeds[0], seeds[0] + 1)
    module = _call(task, module_class, text_dim, image_dim, hidden)
    missing = [name for name in ("text", "image", "gate") if not isinstance(getattr(module, name, None),
                                                                            torch.nn.Linear)]
    if missing:
        _fail(task, f"the module has no nn.Linear named {missing}", "self.text, self.image and self.gate")
    t, v = _random(rows, text_dim, seed=seeds[0]), _random(rows, image_dim, seed=seeds[1])
    result = _call(task, module, t, v)
    if not isinstance(result, tuple) or len(result) != 2:
        _fail(task, f"forward returned {type(result).__name__}, expected (h, z)", "return the fused vector and "
              "the gate")
    h, z = result
    with torch.no_grad():
        gate = torch.sigmoid(module.gate(torch.cat([t, v], -1)))
        expected = gate * torch.tanh(module.text(t)) + (1 - gate) * torch.tanh(module.image(v))
    if tuple(z.shape) != (rows, hidden) or not torch.allclose(z, gate, atol=1e-6):
        _fail(task, "the gate is not σ(W_z [t; v])", "concatenate text then image on the last dimension")
    if not torch.allclose(h, expected, atol=1e-6):
        _fail(task, "h is not z ⊙ tanh(W_t t) + (1 − z) ⊙ tanh(W_v v)", "the text gets z, the image 1 − z")
    _passed(task)


def check_tlm_pair(function: Callable[..., Mapping[str, Sequence[int]]], seed: int | None = None) -> None:
    """Chapter 3, task 4: ``function(first, second, first_language_id, second_language_id, sep_id)`` joins
    ``<s> x </s>`` and ``<s> y </s>`` into ``<s> x </s></s> y </s>``, with positions (from 2, as XLM-R) restarting
    at the second half and each half's language id; it returns ``input_ids``, ``position_ids``, ``token_type_ids``.
    Each of the three lists earns a third of the credit."""
    task = "TLM inputs"
    first, second, (x_id, y_id) = [0, 11, 12, 13, 2], [0, 21, 22, 2], (4, 7)
    if (rng := _hidden(seed)) is not None:
        first, second = ([0, *rng.integers(5, 1000, size=rng.integers(1, 12)).tolist(), 2] for _ in range(2))
        x_id, y_id = (int(i) for i in rng.choice(np.arange(1, 100), size=2, replace=False))
    got = _call(task, function, list(first), list(second), x_id, y_id, 2)
    expected = {key: value[0].tolist() for key, value in
                tlm_ids([first], [second], ["x"], ["y"], {"x": x_id, "y": y_id}, sep_token_id=2,
                        pad_token_id=1).items() if key in ("input_ids", "position_ids", "token_type_ids")}
    if not isinstance(got, Mapping) or set(expected) - set(got):
        _fail(task, f"expected a dict with {sorted(expected)}, got {type(got).__name__}", "return all three lists")
    parts = _Parts(task, list(expected))
    with parts.part("input_ids"):
        ids = _ints(task, got["input_ids"], "input_ids")
        if ids != expected["input_ids"]:
            hint = ("the second half starts with </s>, not <s>: XLM-R separates two segments with </s></s>"
                    if ids == first + second else "concatenate, then turn the second half's <s> into sep_id")
            _fail(task, f"input_ids {ids}, expected {expected['input_ids']}", hint)
    with parts.part("position_ids"):
        positions = _ints(task, got["position_ids"], "position_ids")
        if positions != expected["position_ids"]:
            hint = ("the positions must restart at the second half, so that a word and its translation sit at "
                    "comparable positions" if positions == list(range(2, 2 + len(first) + len(second)))
                    else "number each half 2, 3, 4, … (XLM-R counts positions from padding_idx + 1 = 2)")
            _fail(task, f"position_ids {positions}, expected {expected['position_ids']}", hint)
    with parts.part("token_type_ids"):
        languages = _ints(task, got["token_type_ids"], "token_type_ids")
        if languages != expected["token_type_ids"]:
            _fail(task, f"token_type_ids {languages}, expected {expected['token_type_ids']}",
                  "every token of a half carries that half's language id, the separator included")
    parts.finish()


def _ints(task: str, value: Any, what: str) -> list[int]:
    """A list of ints, from a list or a tensor."""
    try:
        return [int(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]
    except (TypeError, ValueError):
        _fail(task, f"{what} should be a list of ints, got {_short(value)}", "return a list (or a tensor) of ids")


# ---------------------------------------------------------------- chapter 4: the maths, checked


def check_stable_softmax(function: Callable[[torch.Tensor], torch.Tensor], seed: int | None = None) -> None:
    """Chapter 4, task 1: ``function(logits)`` returns softmax over the last dimension without overflow."""
    task = "stable softmax"
    cases = (torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1000.0, 1001.0, 1002.0]]),
             torch.tensor([[-1000.0, 0.0, 1000.0], [5.0, 5.0, 5.0]]))
    if (rng := _hidden(seed)) is not None:
        shapes = [(int(rng.integers(1, 5)), int(rng.integers(2, 9))) for _ in range(3)]
        cases = tuple(torch.tensor(rng.normal(0, 3, size=shape) + offset, dtype=torch.float32)
                      for shape, offset in zip(shapes, (0.0, rng.uniform(500, 5000), -rng.uniform(500, 5000)),
                                               strict=True))
    for logits in cases:
        got = _call(task, function, logits.clone())
        expected = torch.softmax(logits, -1)
        if not isinstance(got, torch.Tensor) or not torch.isfinite(got).all():
            _fail(task, f"for logits {logits.tolist()} you returned {got}", "subtract the maximum of each row "
                  "before exponentiating: softmax(x) = softmax(x − max x)")
        if not torch.allclose(got, expected, atol=1e-6):
            _fail(task, f"for logits {logits.tolist()} you returned {got.tolist()}, expected {expected.tolist()}",
                  "normalise over the last dimension, row by row")
    _passed(task)


def check_cross_entropy_gradient(function: Callable[[torch.Tensor, int], torch.Tensor],
                                 seed: int | None = None) -> None:
    """Chapter 4, task 2: ``function(logits, target)`` returns ∂CE/∂logits = softmax(logits) − one_hot(target)
    for one example, derived by hand (no autograd)."""
    task = "gradient of cross-entropy"
    logits, targets = _random(7, seed=8), (0, 3, 6)
    if (rng := _hidden(seed)) is not None:
        classes = int(rng.integers(2, 30))
        logits, targets = 3 * _random(classes, seed=_torch_seed(rng)), rng.integers(classes, size=3).tolist()
    for target in targets:
        got = _call(task, function, logits.clone(), target)
        probe = logits.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(probe[None], torch.tensor([target])).backward()
        if not isinstance(got, torch.Tensor) or not torch.allclose(got, probe.grad, atol=1e-6):
            _fail(task, f"for target {target} you returned {_short(got)} "
                  f"{got.tolist() if isinstance(got, torch.Tensor) else ''}, autograd says {probe.grad.tolist()}",
                  "p − y: the softmax probabilities minus 1 at the target")
    _passed(task)


def check_joint_objective(function: Callable[..., torch.Tensor], seed: int | None = None) -> None:
    """Chapter 4, task 3: ``function(mlm, tlm, cross, lam)`` returns L = L_MLM + L_TLM + λ·L_cross, where a
    ``None`` term counts as zero."""
    task = "joint objective"
    one, two, three = torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)
    cases = [((one, two, three, 0.5), 4.5), ((one, None, three, 2.0), 7.0), ((one, two, None, 3.0), 3.0),
             ((one, two, three, 0.0), 3.0)]
    if (rng := _hidden(seed)) is not None:
        cases = []
        for missing in (None, "tlm", "cross", None):
            mlm, tlm, cross = np.round(rng.uniform(0.1, 9.0, size=3), 3).tolist()
            lam = round(float(rng.uniform(0.0, 3.0)), 3)
            tlm, cross = (None if missing == "tlm" else tlm), (None if missing == "cross" else cross)
            expected = mlm + (tlm or 0.0) + lam * (cross or 0.0)
            cases.append(((torch.tensor(mlm), None if tlm is None else torch.tensor(tlm),
                           None if cross is None else torch.tensor(cross), lam), expected))
    for args, expected in cases:
        got = _call(task, function, *args)
        if not math.isclose(float(got), expected, rel_tol=1e-5):
            _fail(task, f"for mlm, tlm, cross, λ = {[None if a is None else round(float(a), 4) for a in args]} you "
                  f"returned {float(got)}, expected {expected}", "λ weighs the cross-lingual term only; a None "
                  "term adds nothing")
    _passed(task)


# ---------------------------------------------------------------- chapter 5: the training loop in practice


def check_warmup_decay(function: Callable[[int, int, int], float], seed: int | None = None) -> None:
    """Chapter 5, task 1: ``function(step, warmup, total)`` is the learning-rate factor of step ``step``
    (counted from 0): (step + 1) / warmup during warm-up, then linear decay to 0 at ``total``. The warm-up and
    the decay earn credit apart."""
    task = "warm-up and linear decay"
    schedules = [(10, 100), (1, 5), (4, 4)]
    if (rng := _hidden(seed)) is not None:
        schedules = [(int(w), int(w + extra)) for w, extra in zip(rng.integers(1, 200, size=3),
                                                                 rng.integers(1, 2000, size=3), strict=True)]
    parts = _Parts(task, ["warm-up", "decay"])
    for warmup, total in schedules:
        expected = linear_warmup_decay(TrainingConfig(steps=total, warmup_steps=warmup))
        steps = {0, warmup - 1, warmup, (warmup + total) // 2, total - 1}
        if rng is not None:
            steps |= set(rng.integers(0, total, size=4).tolist())
        for step in sorted(s for s in steps if s < total):
            phase = "warm-up" if step < warmup else "decay"
            with parts.part(phase):
                if phase in parts.failed:
                    continue  # one failure per phase is enough
                got = _float(task, _call(task, function, step, warmup, total), "the learning-rate factor")
                if not math.isclose(got, expected(step), abs_tol=1e-6):
                    hint = ("during warm-up the factor is (step + 1) / warmup, so step 0 already trains a little"
                            if phase == "warm-up" else "after warm-up: (total − step) / (total − warmup)")
                    _fail(task, f"at step {step} (warmup {warmup}, total {total}, {phase}) you returned {got!r}, "
                          f"expected {expected(step):.4f}", hint)
    parts.finish()


def check_clip_gradients(function: Callable[[list[torch.Tensor], float], list[torch.Tensor]],
                         seed: int | None = None) -> None:
    """Chapter 5, task 2: ``function(gradients, max_norm)`` returns the gradients rescaled so that their
    *global* L2 norm (over all tensors together) is at most ``max_norm``; smaller ones are unchanged."""
    task = "gradient clipping"
    gradients, factors = [_random(3, 4, seed=9) * 3, _random(5, seed=10)], (1 / 4, 2.0)
    if (rng := _hidden(seed)) is not None:
        gradients = [float(rng.uniform(0.1, 10)) * _random(*(int(n) for n in rng.integers(1, 6, size=rng.integers(1, 3))),
                                                           seed=_torch_seed(rng)) for _ in range(rng.integers(2, 5))]
        factors = (float(rng.uniform(0.05, 0.9)), float(rng.uniform(1.1, 5.0)))
    total = float(torch.sqrt(sum((g ** 2).sum() for g in gradients)))
    for max_norm in (total * factors[0], total * factors[1]):
        got = _call(task, function, [g.clone() for g in gradients], max_norm)
        scale = min(1.0, max_norm / total)
        expected = [g * scale for g in gradients]
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            _fail(task, f"you returned {_short(got)}, expected a list of {len(expected)} tensors",
                  "return one clipped tensor per gradient, in order")
        if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, expected, strict=True)):
            each = [g * min(1.0, max_norm / float(g.norm())) for g in gradients]
            hint = ("clip by the norm of *all* gradients together, not each tensor separately" if all(
                torch.allclose(a, b, atol=1e-5) for a, b in zip(got, each, strict=True)) else
                "scale every gradient by max_norm / total_norm when total_norm > max_norm")
            _fail(task, f"with max_norm {max_norm:.3f} (the total norm is {total:.3f}) the result is wrong", hint)
    _passed(task)


def check_masked_accuracy(function: Callable[[torch.Tensor, torch.Tensor], float], seed: int | None = None) -> None:
    """Chapter 5, task 3: ``function(logits, labels)`` returns the accuracy of the argmax over the positions
    whose label is not −100 (the positions MLM predicts)."""
    task = "masked-token accuracy"
    logits = _random(2, 6, 11, seed=12)
    best = logits.argmax(-1)
    labels = torch.full((2, 6), -100)
    # row 0: three labelled positions, one right; row 1: one labelled position, right. Overall 2/4 = 0.5; the
    # mean of the rows' accuracies would be (1/3 + 1) / 2 = 0.667, and accuracy over every position another number
    labels[0, 1], labels[0, 3], labels[0, 4] = (best[0, 1] + 1) % 11, (best[0, 3] + 2) % 11, best[0, 4]
    labels[1, 2] = best[1, 2]
    if (rng := _hidden(seed)) is not None:  # rows with unequal numbers of labels, each right or wrong at random
        rows, length, vocab = int(rng.integers(2, 6)), int(rng.integers(4, 12)), int(rng.integers(3, 40))
        logits = _random(rows, length, vocab, seed=_torch_seed(rng))
        best = logits.argmax(-1)
        labels = torch.full((rows, length), -100)
        for row in range(rows):
            for position in rng.choice(length, size=rng.integers(1, length + 1), replace=False).tolist():
                wrong = int(rng.integers(1, vocab))
                labels[row, position] = best[row, position] if rng.random() < 0.5 else (best[row, position] + wrong) % vocab
    chosen = labels != -100
    expected = float((best[chosen] == labels[chosen]).float().mean())
    got = _float(task, _call(task, function, logits, labels), "the accuracy")
    if not math.isclose(got, expected, abs_tol=1e-6):
        everywhere = float((best == labels).float().mean())
        per_row = float(np.mean([(best[i][chosen[i]] == labels[i][chosen[i]]).float().mean().item()
                                 for i in range(len(labels))]))
        if math.isclose(got, everywhere, abs_tol=1e-6):
            hint = "count only the positions with a label (labels != −100)"
        elif math.isclose(got, per_row, abs_tol=1e-6):
            hint = ("that is the mean of each row's accuracy: rows with more labels must weigh more; divide the "
                    "correct predictions of all rows by all labelled positions")
        else:
            hint = "argmax over the vocabulary (last dimension), then compare"
        _fail(task, f"you returned {got:.4f}, expected {expected:.4f}", hint)
    _passed(task)


# ---------------------------------------------------------------- chapter 6: applications


def check_align_labels(function: Callable[[Sequence[int | None], Sequence[int]], list[int]],
                       seed: int | None = None) -> None:
    """Chapter 6, task 1: ``function(word_ids, word_labels)`` gives each *token* a label: the label of its
    word on the first sub-token of the word, −100 on the word's other sub-tokens and on special tokens
    (``word_ids`` holds ``None`` there)."""
    task = "aligning word labels to tokens"
    cases = [([None, 0, 1, 1, 2, None], [3, 0, 1], [-100, 3, 0, -100, 1, -100]),
             ([None, 0, 0, 0, None], [5], [-100, 5, -100, -100, -100]),
             ([None, 0, 1, 2, None], [1, 2, 0], [-100, 1, 2, 0, -100])]
    if (rng := _hidden(seed)) is not None:
        cases = []
        for _ in range(3):  # words of one to four sub-tokens, between <s> and </s>
            word_labels = rng.integers(0, 9, size=rng.integers(1, 10)).tolist()
            pieces = rng.integers(1, 5, size=len(word_labels)).tolist()
            word_ids = [None, *(w for w, n in enumerate(pieces) for _ in range(n)), None]
            expected = [-100 if w is None or (i > 0 and word_ids[i - 1] == w) else word_labels[w]
                        for i, w in enumerate(word_ids)]
            cases.append((word_ids, word_labels, expected))
    for word_ids, word_labels, expected in cases:
        got = _call(task, function, list(word_ids), list(word_labels))
        if list(got) != expected:
            every = [-100 if w is None else word_labels[w] for w in word_ids]
            hint = ("label only the *first* sub-token of a word; the others get −100, so each word counts once"
                    if list(got) == every else "−100 where word_ids is None (special tokens)")
            _fail(task, f"for word_ids {word_ids} and word labels {word_labels} you returned {list(got)}, "
                  f"expected {expected}", hint)
    _passed(task)


def check_mean_reciprocal_rank(function: Callable[[torch.Tensor, Sequence[int]], float],
                               seed: int | None = None) -> None:
    """Chapter 6, task 2: ``function(scores, relevant)`` returns the mean over queries of 1 / rank of the
    relevant candidate (rank 1 = highest score), for a (queries × candidates) score matrix."""
    task = "mean reciprocal rank"
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.1, 0.7, 0.4]])
    relevant = [0, 1, 2]  # ranks 1, 2, 2
    if (rng := _hidden(seed)) is not None:  # distinct scores: no ties to break
        queries, candidates = int(rng.integers(2, 12)), int(rng.integers(2, 30))
        scores = torch.tensor(np.stack([rng.permutation(candidates) for _ in range(queries)]) / candidates,
                              dtype=torch.float32)
        relevant = rng.integers(candidates, size=queries).tolist()
    expected = ranking_metrics(scores, [[r] for r in relevant])["MRR"]
    ranks = [1 + int((row > row[r]).sum()) for row, r in zip(scores, relevant, strict=True)]
    got = _call(task, function, scores, relevant)
    if not isinstance(got, (int, float, np.floating, torch.Tensor)) or not math.isclose(float(got), expected,
                                                                                        rel_tol=1e-6):
        _fail(task, f"for ranks {ranks} you returned {got!r}, expected {expected:.4f} = the mean of 1 / rank",
              "rank = 1 + the number of candidates with a higher score than the relevant one")
    _passed(task)


def check_macro_f1(function: Callable[[Sequence[int], Sequence[int], int], float], seed: int | None = None) -> None:
    """Chapter 6, task 3: ``function(y_true, y_pred, num_labels)`` returns macro-F1: the unweighted mean over
    labels 0 … num_labels − 1 of each label's F1 (0 for a label never predicted and never true)."""
    task = "macro-F1"
    cases = [([0, 0, 0, 0, 1], [0, 0, 0, 0, 0], 2), ([0, 1, 2, 2], [0, 2, 2, 1], 3), ([1, 1], [1, 1], 3)]
    if (rng := _hidden(seed)) is not None:
        cases = []
        for _ in range(3):
            labels, size = int(rng.integers(2, 8)), int(rng.integers(2, 40))
            weights = rng.dirichlet(np.ones(labels))  # unbalanced classes, as in NER and sentiment
            cases.append((rng.choice(labels, size=size, p=weights).tolist(),
                          rng.choice(labels, size=size, p=weights).tolist(), labels))
    for y_true, y_pred, labels in cases:
        got = _float(task, _call(task, function, list(y_true), list(y_pred), labels), "macro-F1")
        expected = float(f1_score(y_true, y_pred, labels=list(range(labels)), average="macro", zero_division=0))
        if not math.isclose(got, expected, abs_tol=1e-6):  # float32 answers are right answers
            accuracy = float(np.mean(np.array(y_true) == np.array(y_pred)))
            hint = ("that is accuracy: macro-F1 averages the F1 of each label, so a rare label weighs as much as "
                    "a frequent one" if math.isclose(float(got), accuracy) else
                    "per label: F1 = 2·precision·recall / (precision + recall), 0 when undefined; then average")
            _fail(task, f"for y_true {y_true}, y_pred {y_pred} you returned {got!r}, expected {expected:.4f}", hint)
    _passed(task)


def check_bleu(function: Callable[[Sequence[str], Sequence[str]], float], seed: int | None = None) -> None:
    """Chapter 6, task 4: ``function(hypotheses, references)`` is corpus BLEU on whitespace tokens:
    100 · BP · exp(¼ Σ_{n=1..4} log p_n), p_n the clipped n-gram precision summed over the corpus and
    BP = min(1, exp(1 − r / c)) for total reference length r and hypothesis length c. Its three cases test three
    parts of the formula (corpus sums, clipping, the brevity penalty) and earn credit apart."""
    task = "BLEU"
    cases = {
        "two close sentences": (["the cat sat on the mat today", "a dog ran in the big park"],
                                ["the cat sat on the red mat today", "the dog ran in the big park"]),
        "a hypothesis that repeats a word": (["the the the cat sat on the mat"], ["the cat sat on the mat"]),
        "a short hypothesis": (["the cat sat on the"], ["the cat sat on the mat by the door"]),
    }
    if (rng := _hidden(seed)) is not None:
        words = "the a cat dog sat ran on in mat park big red today door by of".split()

        def sentence(length: int) -> list[str]:
            return rng.choice(words, size=length).tolist()

        references = [sentence(int(rng.integers(6, 14))) for _ in range(int(rng.integers(2, 5)))]
        close = [[w if rng.random() < 0.85 else str(rng.choice(words)) for w in r] for r in references]
        repeated = references[0][:1] * int(rng.integers(2, 5)) + references[0]
        cases = {"two close sentences": ([" ".join(h) for h in close], [" ".join(r) for r in references]),
                 "a hypothesis that repeats a word": ([" ".join(repeated)], [" ".join(references[0])]),
                 "a short hypothesis": ([" ".join(references[1][:5])], [" ".join(references[1])])}
    parts = _Parts(task, list(cases))
    for name, (hypotheses, references) in cases.items():
        with parts.part(name):
            expected = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", smooth_method="none").score
            got = _float(task, _call(task, function, list(hypotheses), list(references)), "BLEU")
            if not math.isclose(got, expected, abs_tol=1e-6):
                hints = {"a hypothesis that repeats a word": "clip each n-gram's count at its count in the "
                         "reference: 'the the the' may not match 'the' three times",
                         "a short hypothesis": "multiply by the brevity penalty min(1, exp(1 − r / c)): a short "
                         "hypothesis has high precision for free"}
                _fail(task, f"{name}: you returned {got:.3f}, expected {expected:.3f} (sacrebleu)",
                      hints.get(name, "sum matches and n-gram counts over the whole corpus before dividing; BLEU "
                                "is not the mean of sentence scores"))
    parts.finish("correct (equal to sacrebleu's corpus BLEU)")


# ---------------------------------------------------------------- chapter 8: deployment


def check_lora_linear(module_class: type, seed: int | None = None) -> None:
    """Chapter 8, task 1: ``module_class(base, rank, alpha)`` wraps a frozen ``nn.Linear`` with
    y = base(x) + (α / r)·B A x, ``lora_A`` (r × in, random) and ``lora_B`` (out × r, zero) as ``nn.Linear``."""
    task = "LoRA layer"
    (d_in, d_out, rank, alpha, rows), seeds = (6, 5, 2, 8.0, 4), (0, 13)
    if (rng := _hidden(seed)) is not None:
        d_in, d_out, rows = (int(n) for n in rng.integers(2, 13, size=3))
        rank = int(rng.integers(1, min(d_in, d_out) + 1))  # a low rank: at most the smaller side
        alpha, seeds = float(rng.choice([1.0, 4.0, 8.0, 16.0, 32.0])), (_torch_seed(rng), _torch_seed(rng))
    torch.manual_seed(seeds[0])
    base = torch.nn.Linear(d_in, d_out)
    module = _call(task, module_class, base, rank, alpha)
    for name, shape in (("lora_A", (rank, d_in)), ("lora_B", (d_out, rank))):
        layer = getattr(module, name, None)
        if not isinstance(layer, torch.nn.Linear) or tuple(layer.weight.shape) != shape:
            _fail(task, f"{name} should be an nn.Linear with weight shape {shape}",
                  "lora_A maps in_features → rank, lora_B maps rank → out_features, both without bias")
    if any(p.requires_grad for p in base.parameters()):
        _fail(task, "the base layer is still trainable", "base.requires_grad_(False)")
    if not (module.lora_A.weight.requires_grad and module.lora_B.weight.requires_grad):
        _fail(task, "lora_A and lora_B must be trainable (they are the only parameters that train)",
              "freeze the base layer only, not the LoRA factors")
    if not module.lora_A.weight.detach().abs().sum() > 0:
        _fail(task, "lora_A starts at zero: with B also zero, no gradient ever reaches either factor",
              "initialise lora_A randomly (e.g. Kaiming uniform, as nn.Linear does) and only lora_B to zero")
    x = _random(rows, d_in, seed=seeds[1])
    start = _call(task, module, x)
    if not torch.allclose(start, base(x), atol=1e-6):
        _fail(task, "at initialisation the output differs from the base layer",
              "initialise lora_B to zero, so that training starts at the pretrained function")
    module.zero_grad()
    output = _call(task, module, x)
    if output.requires_grad:
        output.sum().backward()
    if module.lora_B.weight.grad is None or not module.lora_B.weight.grad.abs().sum() > 0:
        _fail(task, "a backward pass leaves lora_B without a gradient, so training would never move it",
              "compute base(x) + (alpha / rank) * lora_B(lora_A(x)) in forward, without torch.no_grad()")
    with torch.no_grad():
        module.lora_B.weight.normal_()
    expected = base(x) + alpha / rank * x @ module.lora_A.weight.T @ module.lora_B.weight.T
    if not torch.allclose(_call(task, module, x), expected, atol=1e-4):
        _fail(task, "with a non-zero B the output is not base(x) + (α/r)·B A x",
              f"scale by alpha / rank = {alpha:g} / {rank}")
    _passed(task)


def check_lora_parameter_count(function: Callable[[int, int, int], int], seed: int | None = None) -> None:
    """Chapter 8, task 2: ``function(d_in, d_out, rank)`` returns LoRA's trainable parameters for one matrix."""
    task = "LoRA parameter count"
    shapes = ((768, 768, 8), (768, 3072, 4), (128, 64, 1))
    if (rng := _hidden(seed)) is not None:
        shapes = tuple(tuple(int(n) for n in (rng.integers(1, 8192), rng.integers(1, 8192), rng.integers(1, 129)))
                       for _ in range(3))
    for d_in, d_out, rank in shapes:
        got = _call(task, function, d_in, d_out, rank)
        if got != rank * (d_in + d_out):
            _fail(task, f"for a {d_out} × {d_in} matrix at rank {rank} you returned {got!r}, expected "
                  f"{rank * (d_in + d_out)}", "A is rank × d_in and B is d_out × rank")
    _passed(task)


def check_int8_quantisation(function: Callable[[torch.Tensor], tuple[torch.Tensor, float]],
                            seed: int | None = None) -> None:
    """Chapter 8, task 3: ``function(x)`` returns (q, scale) of symmetric per-tensor int8 quantisation:
    scale = max|x| / 127, q = clamp(round(x / scale), −127, 127) as ``torch.int8``; x ≈ q · scale."""
    task = "int8 quantisation"
    x = _random(50, seed=14) * 3
    if (rng := _hidden(seed)) is not None:
        x = _random(*(int(n) for n in rng.integers(1, 40, size=rng.integers(1, 3))), seed=_torch_seed(rng))
        x = x * float(10 ** rng.uniform(-3, 3))
    result = _call(task, function, x.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        _fail(task, f"you returned {type(result).__name__}, expected (q, scale)", "return both")
    q, scale = result
    expected_scale = float(x.abs().max()) / 127
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8:
        _fail(task, f"q should be a torch.int8 tensor, got {getattr(q, 'dtype', type(q).__name__)}",
              "round, clamp, then .to(torch.int8)")
    if not math.isclose(float(scale), expected_scale, rel_tol=1e-6):
        _fail(task, f"scale {float(scale):.5f}, expected {expected_scale:.5f}",
              "symmetric: the largest |x| maps to 127, so scale = max|x| / 127")
    if not torch.equal(q, torch.clamp(torch.round(x / expected_scale), -127, 127).to(torch.int8)):
        _fail(task, "q is not round(x / scale)", "round to the nearest integer (torch.round), do not truncate")
    error = float((q.float() * float(scale) - x).abs().max())
    if error > expected_scale / 2 + 1e-6:
        _fail(task, f"the reconstruction error {error:.4f} exceeds scale / 2", "round, do not floor")
    _passed(task)


def check_distillation_loss(function: Callable[..., torch.Tensor], seed: int | None = None) -> None:
    """Chapter 8, task 4: ``function(student_logits, teacher_logits, labels, temperature, alpha)`` returns
    α·CE(student, labels) + (1 − α)·T²·KL(softmax(teacher / T) ‖ softmax(student / T)), the KL averaged over rows."""
    from ..deployment.distillation import distillation_loss

    task = "distillation loss"
    student, teacher = _random(6, 5, seed=41), 2 * _random(6, 5, seed=42)
    labels = torch.tensor([0, 3, 1, 4, 2, 2])
    settings = ((1.0, 0.5), (4.0, 0.5), (2.0, 0.0))
    if (rng := _hidden(seed)) is not None:
        rows, classes = int(rng.integers(2, 16)), int(rng.integers(2, 12))
        student, teacher = _random(rows, classes, seed=_torch_seed(rng)), 3 * _random(rows, classes, seed=_torch_seed(rng))
        labels = torch.from_numpy(rng.integers(classes, size=rows))
        settings = ((1.0, round(float(rng.uniform(0.1, 0.9)), 3)), (round(float(rng.uniform(2, 8)), 3), 0.5),
                    (round(float(rng.uniform(1.5, 5)), 3), 0.0))
    for temperature, alpha in settings:
        got = _float(task, _call(task, function, student.clone(), teacher.clone(), labels, temperature, alpha),
                     "the loss")
        expected = float(distillation_loss(student, teacher, labels, temperature, alpha))
        if math.isclose(got, expected, rel_tol=1e-5):
            continue
        soft = expected - alpha * float(F.cross_entropy(student, labels))
        hint = "the soft term is the KL between the teacher's and the student's softened distributions"
        if temperature != 1 and math.isclose(got - alpha * float(F.cross_entropy(student, labels)),
                                             soft / temperature**2, rel_tol=1e-4):
            hint = "multiply the soft term by T²: softening by T shrinks its gradients by 1/T², which T² undoes"
        elif alpha == 0 and not math.isclose(got, expected, rel_tol=1e-5):
            hint = ("KL(teacher ‖ student) = Σ p_teacher (log p_teacher − log p_student): F.kl_div takes the "
                    "student's log-probabilities first, with reduction='batchmean'")
        _fail(task, f"at T = {temperature}, α = {alpha} you returned {got:.4f}, expected {expected:.4f}", hint)
    print(f"✓ {task}: correct")


FORMULAS: dict[str, list[Callable[..., None]]] = {
    "01": [check_sampling_probabilities, check_effective_languages, check_fertility],
    "02": [check_attention, check_split_heads, check_causal_mask],
    "03": [check_mask_tokens, check_info_nce, check_gated_fusion, check_tlm_pair],
    "04": [check_stable_softmax, check_cross_entropy_gradient, check_joint_objective],
    "05": [check_warmup_decay, check_clip_gradients, check_masked_accuracy],
    "06": [check_align_labels, check_mean_reciprocal_rank, check_macro_f1, check_bleu],
    "08": [check_lora_linear, check_lora_parameter_count, check_int8_quantisation, check_distillation_loss],
}
