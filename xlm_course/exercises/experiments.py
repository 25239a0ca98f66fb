"""The checks behind the exercises' experiments: predict, change something, run it, measure.

An experiment task asks for a prediction first (a number or one of a few named outcomes), then for the code
that measures. Its check does two things. It runs the learner's code on inputs where the answer is known,
naming the usual mistakes as :mod:`.checks` does; then it reports the measurement beside the prediction. A
wrong prediction is not a failed check: it is what the experiment is for, and the model answer after the task
(collapsed in the student notebook) explains what happened. A missing prediction, or one that is not among the outcomes offered, fails.

With ``seed`` (``xlm-course grade``), the learner's code is tried on hidden cases instead of the known ones: other
toy data, sizes and numbers where the task allows them. Three tasks fix their inputs in the task itself (the
finite-difference logits, the precision experiment's matrices, the window experiment's tones); there the hidden
call asks for other ε, no other dtypes, and other tone pairs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..data.sampling import sampling_probabilities
from ..models.attention import scaled_dot_product_attention
from ..ranking import top1_accuracy
from .checks import _call, _fail, _float, _hidden, _random, _short, _torch_seed

Outcome = str | float | None


def _prediction(task: str, prediction: Outcome, choices: Sequence[str] | None = None) -> None:
    """Fail unless a prediction was written: one of ``choices``, or a positive finite number when there are none."""
    if prediction is None or prediction is Ellipsis:
        _fail(task, "no prediction written", "write down what you expect *before* you run the experiment: "
              + (f"one of {', '.join(map(repr, choices))}" if choices else "a positive number"))
    if choices is not None:
        if prediction not in choices:
            _fail(task, f"the prediction {prediction!r} is not one of the outcomes offered",
                  f"choose one of {', '.join(map(repr, choices))}")
    elif isinstance(prediction, bool) or not isinstance(prediction, (int, float)) or not (
            math.isfinite(prediction) and prediction > 0):
        _fail(task, f"the prediction {prediction!r} is not a positive number", "write a number such as 2.5")


def _report(task: str, prediction: Outcome, measured: str, right: bool) -> None:
    verdict = "as you predicted" if right else "not what you predicted: write down why, then open the model answer after the task"
    print(f"✓ {task}: the experiment is correct. You predicted {prediction!r}; measured {measured} ({verdict}).")


def _shares(task: str, value: Any, languages: Sequence[str]) -> dict[str, float]:
    if isinstance(value, pd.Series):
        value = value.to_dict()
    if not isinstance(value, Mapping) or set(value) != set(languages):
        _fail(task, f"expected a dict with one entry per language {sorted(languages)}, got {_keys(value)}",
              "return {language: value}")
    return {lang: _float(task, value[lang], f"the value for {lang!r}") for lang in languages}


def _keys(value: Any) -> str:
    return repr(sorted(value)) if isinstance(value, Mapping) else type(value).__name__


# ---------------------------------------------------------------- chapter 1


def check_alpha_experiment(drawn_shares: Callable[[Sequence[str], float, int, int], Mapping[str, float]],
                           prediction: Outcome = None, languages: Sequence[str] | None = None,
                           seed: int | None = None) -> None:
    """Chapter 1, task 4: ``drawn_shares(languages, alpha, draws, seed)`` draws ``draws`` rows with the course's
    ``LanguageBalancedSampler`` and returns each language's share of them; ``prediction`` is the factor by which
    the smallest language's share grows from α = 1 to α = 0.3 in ``languages`` (the corpus, one entry per row)."""
    task = "α-sampling experiment"
    toy, draws, alphas, sampler_seed = ["en"] * 900 + ["fr"] * 90 + ["sw"] * 10, 20_000, (1.0, 0.3), 0
    if (rng := _hidden(seed)) is not None:
        sizes = sorted(rng.integers(5, 1500, size=3).tolist(), reverse=True)
        toy = [lang for lang, n in zip(("en", "fr", "sw"), sizes, strict=True) for _ in range(n)]
        alphas, sampler_seed = (1.0, round(float(rng.uniform(0.1, 0.8)), 2)), _torch_seed(rng)
    for alpha in alphas:
        got = _shares(task, _call(task, drawn_shares, list(toy), alpha, draws, sampler_seed), ["en", "fr", "sw"])
        if not math.isclose(sum(got.values()), 1.0, abs_tol=1e-6):
            _fail(task, f"at α = {alpha} the shares sum to {sum(got.values()):.3f}, not 1",
                  "divide each language's count of drawn rows by the number of draws")
        expected = sampling_probabilities(Counter(toy), alpha)
        for lang, q in expected.items():
            if abs(got[lang] - q) > 5 * math.sqrt(q * (1 - q) / draws) + 1e-3:
                _fail(task, f"{' / '.join(str(toy.count(x)) for x in ('en', 'fr', 'sw'))} rows at α = {alpha}: {lang!r} got {got[lang]:.3f} of the draws, expected "
                      f"about q = {q:.3f}", "draw with LanguageBalancedSampler(languages, alpha=alpha, seed=seed)"
                      ".draw(draws, generator) and count the language of each drawn row")
    _prediction(task, prediction)
    if languages is None:
        return print(f"✓ {task}: the sampler is used correctly (give languages= to measure on the corpus)")
    counts = Counter(languages)
    smallest = min(counts, key=counts.get)
    before = _shares(task, _call(task, drawn_shares, list(languages), 1.0, draws, 0), list(counts))[smallest]
    after = _shares(task, _call(task, drawn_shares, list(languages), 0.3, draws, 0), list(counts))[smallest]
    factor = after / before
    _report(task, prediction, f"×{factor:.1f} for {smallest!r}", 2 / 3 <= float(prediction) / factor <= 3 / 2)


def check_token_premium_experiment(premium: Callable[..., Mapping[str, float]], prediction: Outcome = None,
                                   tokenizer: Any = None, parallel: Any = None,
                                   languages: Sequence[str] | None = None, seed: int | None = None) -> None:
    """Chapter 1, task 5: ``premium(tokenizer, parallel, languages)`` returns, per language, the tokens of the
    messages it shares with English over the English tokens; ``prediction`` is the language with the largest
    premium under ``tokenizer`` (XLM-R's)."""
    task = "token-premium experiment"

    class Characters:  # a tokenizer that cuts text into characters
        def tokenize(self, text: str) -> list[str]:
            return list(text)

    rows = {"concept": ["a", "a", "a", "b", "b"], "lang": ["en", "fr", "de", "en", "fr"],
            "text": ["ab", "abcd", "abc", "abcdefgh", "abcdefgh"]}
    if (rng := _hidden(seed)) is not None:  # messages of random lengths, each language missing from some
        rows = {"concept": [], "lang": [], "text": []}
        for concept in range(int(rng.integers(2, 7))):
            for lang in ("en", "fr", "de"):
                if lang == "en" or rng.random() < 0.8:
                    rows["concept"].append(f"c{concept}")
                    rows["lang"].append(lang)
                    rows["text"].append("x" * int(rng.integers(1, 30)))
        for lang in ("fr", "de"):  # every language shares at least one message with English
            rows["concept"].append("shared")
            rows["lang"].append(lang)
            rows["text"].append("y" * int(rng.integers(1, 30)))
        rows["concept"].append("shared")
        rows["lang"].append("en")
        rows["text"].append("z" * int(rng.integers(1, 30)))
    toy = datasets.Dataset.from_dict(rows)
    got = _shares(task, _call(task, premium, Characters(), toy, ["fr", "de"]), ["fr", "de"])
    lengths: dict[str, dict[str, int]] = {}
    for concept, lang, text in zip(rows["concept"], rows["lang"], rows["text"], strict=True):
        lengths.setdefault(concept, {})[lang] = len(text)
    shared = {lang: [c for c, by in lengths.items() if lang in by and "en" in by] for lang in ("fr", "de")}
    # totals over shared messages, not a mean of ratios (1.5 for fr in the notebook's toy, not 12 / 10)
    expected = {lang: sum(lengths[c][lang] for c in cs) / sum(lengths[c]["en"] for c in cs) for lang, cs in shared.items()}
    for lang, value in expected.items():
        if not math.isclose(got[lang], value, rel_tol=1e-9):
            mean_of_ratios = float(np.mean([lengths[c][lang] / lengths[c]["en"] for c in shared[lang]]))
            hint = ("that is the mean of per-message ratios, which a short message sways: divide the language's total "
                    "tokens by English's total over the same messages") if math.isclose(got[lang], mean_of_ratios) \
                else "count tokens only on the messages that have both the language and English; divide the totals"
            _fail(task, f"with a character tokenizer, {lang!r} should be {value:.3f}, got {got[lang]:.3f}", hint)
    if tokenizer is None or parallel is None or not languages:
        return print(f"✓ {task}: premium is correct (give tokenizer=, parallel= and languages= to measure)")
    _prediction(task, prediction, list(languages))
    measured = _shares(task, _call(task, premium, tokenizer, parallel, list(languages)), list(languages))
    largest = max(measured, key=measured.get)
    _report(task, prediction, f"{largest!r} ({measured[largest]:.2f} tokens per English token)", prediction == largest)


# ---------------------------------------------------------------- chapter 2


def check_scaling_experiment(attention_entropy: Callable[[int, bool], float], prediction: Outcome = None,
                             seed: int | None = None) -> None:
    """Chapter 2, task 4: ``attention_entropy(d, scaled)`` is the mean entropy (nats) of softmax(q·kᵀ) over 64
    keys, for random q, k ~ N(0, 1) of dimension d, the scores divided by √d when ``scaled``; ``prediction``:
    what the *unscaled* entropy does as d grows from 16 to 1024 ("falls", "stays" or "rises")."""
    task = "√d scaling experiment"
    small, large = (16, 1024) if (rng := _hidden(seed)) is None else (int(rng.choice([8, 16, 24, 32])),
                                                                          int(rng.choice([768, 1024, 1536, 2048])))
    values = {(d, scaled): _float(task, _call(task, attention_entropy, d, scaled), f"the entropy at d = {d}")
              for d in (small, large) for scaled in (True, False)}
    values = {(16 if d == small else 1024, scaled): v for (d, scaled), v in values.items()}  # named as in the task
    ceiling = math.log(64)
    if any(not 0 <= v <= ceiling + 1e-6 for v in values.values()):
        _fail(task, f"an entropy over 64 keys must lie in [0, ln 64 = {ceiling:.2f}], got {values}",
              "H = −Σ p log p with the natural log, averaged over the query rows")
    if values[(1024, True)] > ceiling - 0.1:
        _fail(task, f"scaled, d = 1024 gives {values[(1024, True)]:.2f}, almost uniform attention",
              "divide the scores by √d, not by d: q·k has variance d, so √d brings it back to 1")
    if abs(values[(16, True)] - values[(1024, True)]) > 0.3:
        _fail(task, f"scaled, the entropy moves from {values[(16, True)]:.2f} (d = 16) to {values[(1024, True)]:.2f} "
              "(d = 1024); with the 1/√d factor it should hardly depend on d", "scale the scores when scaled=True")
    if not values[(1024, False)] < values[(16, False)] - 0.5:
        _fail(task, f"unscaled, d = 16 gives {values[(16, False)]:.2f} and d = 1024 gives {values[(1024, False)]:.2f}",
              "use the raw scores q·kᵀ when scaled=False, with fresh N(0, 1) vectors of dimension d")
    _prediction(task, prediction, ["falls", "stays", "rises"])
    _report(task, prediction, f"unscaled entropy {values[(16, False)]:.2f} → {values[(1024, False)]:.2f} nats",
            prediction == "falls")


def check_order_experiment(order_gap: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], float],
                           prediction: Outcome = None, seed: int | None = None) -> None:
    """Chapter 2, task 5: ``order_gap(x, positions, permutation)`` runs self-attention on x + positions and on
    x[permutation] + positions (the tokens move, the positions stay) and returns the largest difference between
    the second output and the first output permuted; ``prediction``: the gap without positions, "zero" or
    "large"."""
    task = "word-order experiment"
    x, positions = _random(7, 16, seed=21), _random(7, 16, seed=22)
    permutation = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    if (rng := _hidden(seed)) is not None:
        length, dim = int(rng.integers(3, 12)), int(rng.integers(4, 32))
        x, positions = _random(length, dim, seed=_torch_seed(rng)), _random(length, dim, seed=_torch_seed(rng))
        order = rng.permutation(length)  # one cycle through every position: no token stays where it was
        permutation = torch.empty(length, dtype=torch.long)
        permutation[torch.from_numpy(order)] = torch.from_numpy(np.roll(order, -1))
    without = _float(task, _call(task, order_gap, x, torch.zeros_like(x), permutation), "the gap")
    with_positions = _float(task, _call(task, order_gap, x, positions, permutation), "the gap")
    h = x[permutation] + positions
    expected = (scaled_dot_product_attention(h, h, h)[0]
                - scaled_dot_product_attention(x + positions, x + positions, x + positions)[0][permutation])
    if without > 1e-5:
        _fail(task, f"without positions the gap is {without:.2e}; self-attention alone should give the same vectors "
              "in the new order", "compare out(x[perm]) with out(x)[perm], not with out(x)")
    if with_positions < 1e-3:
        _fail(task, f"with positions the gap is {with_positions:.2e}: did the positions move with the tokens?",
              "add the positions *after* permuting the tokens: x[permutation] + positions")
    if not math.isclose(with_positions, float(expected.abs().max()), rel_tol=1e-3):
        _fail(task, f"with positions the gap is {with_positions:.4f}, expected {float(expected.abs().max()):.4f}",
              "return the largest absolute difference, over tokens and features, of the two outputs")
    _prediction(task, prediction, ["zero", "large"])
    _report(task, prediction, f"a gap of {without:.1e} without positions and {with_positions:.2f} with them",
            prediction == "zero")


# ---------------------------------------------------------------- chapter 3


def check_retrieval_experiment(top1: Callable[[torch.Tensor, torch.Tensor], float], prediction: Outcome = None,
                               measured: Mapping[str, float] | None = None, seed: int | None = None) -> None:
    """Chapter 3, task 5: ``top1(queries, candidates)`` is the share of rows i whose nearest candidate by cosine is
    row i; ``prediction`` names the encoder that retrieves held-out UI messages better, and ``measured`` holds
    each encoder's mean top-1 computed with it."""
    task = "retrieval experiment"
    (rows, dim), seeds = (6, 4), (31, 32, 33, 34)
    if (rng := _hidden(seed)) is not None:
        rows, dim, seeds = int(rng.integers(3, 16)), int(rng.integers(2, 12)), tuple(_torch_seed(rng) for _ in range(4))
    queries = _random(rows, dim, seed=seeds[0])
    candidates = queries + 0.05 * _random(rows, dim, seed=seeds[1])
    candidates[2] = 10 * queries[4 if rng is None else 0]  # long, pointing at another query: cosine ignores length
    cases = {"near-copies, one of them long": (queries, candidates),
             "unrelated rows": (_random(rows, dim, seed=seeds[2]), _random(rows, dim, seed=seeds[3]))}
    for name, (q, c) in cases.items():
        got = _float(task, _call(task, top1, q.clone(), c.clone()), "top-1")
        expected = top1_accuracy(q, c)
        if not math.isclose(got, expected, abs_tol=1e-9):
            dot = float(((q @ c.T).argmax(1) == torch.arange(len(q))).float().mean())
            hint = ("that ranks by dot product, which a long vector wins: normalise both sides first (cosine)"
                    if math.isclose(got, dot) else "for each query row take the argmax over the candidates (dim=1)")
            _fail(task, f"{name}: you returned {got:.3f}, expected {expected:.3f}", hint)
    names = ["UI pairs only", "UI + emoji pairs"]
    _prediction(task, prediction, names)
    if measured is None:
        return print(f"✓ {task}: top1 is correct (give measured= to compare the encoders)")
    measured = _shares(task, measured, names)
    best = max(measured, key=measured.get)
    _report(task, prediction, ", ".join(f"{n} {v:.3f}" for n, v in measured.items()), prediction == best)


def _tones(seconds: float = 1.0, sample_rate: int = 16_000, low: float = 1000.0) -> torch.Tensor:
    """Two tones 40 Hz apart (1000 and 1040 Hz), the test signal of :func:`check_window_experiment`."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return torch.sin(2 * math.pi * low * t) + torch.sin(2 * math.pi * (low + 40) * t)


def _mean_spectrum(signal: torch.Tensor, n_fft: int, window: torch.Tensor, power: int) -> torch.Tensor:
    return torch.stft(signal, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs().pow(power).mean(-1)


def _peaks(spectrum: torch.Tensor, n_fft: int, sample_rate: int = 16_000) -> int:
    """Local maxima between 800 and 1250 Hz that reach half the largest value there."""
    frequencies = torch.arange(len(spectrum)) * sample_rate / n_fft
    band = spectrum[(frequencies >= 800) & (frequencies <= 1250)]
    inner = band[1:-1]
    return int(((inner > band[:-2]) & (inner >= band[2:]) & (inner >= band.max() / 2)).sum())


def check_window_experiment(spectrum: Callable[[torch.Tensor, int], torch.Tensor], prediction: Outcome = None,
                            seed: int | None = None) -> None:
    """Chapter 3, task 6: ``spectrum(signal, n_fft)`` is the STFT magnitude (Hann window, hop n_fft // 4, torch's
    default centring) averaged over frames, one value per frequency bin; ``prediction``: which window separates
    two tones 40 Hz apart, "short" (n_fft = 128, 8 ms at 16 kHz) or "long" (n_fft = 2048, 128 ms)."""
    task = "window-length experiment"
    signal = _tones() if (rng := _hidden(seed)) is None else _tones(low=float(rng.uniform(850, 1150)))
    found = {}
    for n_fft in (128, 2048):
        got = _call(task, spectrum, signal.clone(), n_fft)
        expected = _mean_spectrum(signal, n_fft, torch.hann_window(n_fft), 1)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            _fail(task, f"n_fft = {n_fft}: expected a tensor of shape {tuple(expected.shape)} (one value per bin), got "
                  f"{_short(got)}", "take .abs() of torch.stft(..., return_complex=True), then .mean(-1) over frames")
        got = got.float()
        if not torch.allclose(got, expected, rtol=1e-3, atol=1e-3):
            power = _mean_spectrum(signal, n_fft, torch.hann_window(n_fft), 2)
            rectangular = _mean_spectrum(signal, n_fft, torch.ones(n_fft), 1)
            hint = ("that is the power: take the magnitude, not its square" if torch.allclose(
                got, power, rtol=1e-3, atol=1e-3) else "pass window=torch.hann_window(n_fft): without a window "
                "each tone leaks into every bin" if torch.allclose(got, rectangular, rtol=1e-3, atol=1e-3) else
                "torch.stft(signal, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)")
            _fail(task, f"n_fft = {n_fft}: your spectrum differs from the expected one", hint)
        found[n_fft] = _peaks(got, n_fft)
    _prediction(task, prediction, ["short", "long"])
    _report(task, prediction, f"{found[128]} peak(s) near 1 kHz with n_fft = 128 and {found[2048]} with 2048",
            prediction == ("long" if found[2048] == 2 and found[128] < 2 else "short"))


# ---------------------------------------------------------------- chapter 4


def _reference_gradient_error(eps: float, dtype: torch.dtype) -> float:
    logits, target = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64), 1
    exact = torch.softmax(logits, 0) - F.one_hot(torch.tensor(target), 4)
    point = logits.to(dtype)
    numerical = torch.empty(4, dtype=torch.float64)
    for k in range(4):
        step = torch.zeros(4, dtype=dtype)
        step[k] = eps
        up, down = (F.cross_entropy((point + s)[None], torch.tensor([target])) for s in (step, -step))
        numerical[k] = (up.double() - down.double()) / (2 * eps)
    return float((numerical - exact).abs().max())


def check_epsilon_experiment(gradient_error: Callable[[float, torch.dtype], float],
                             prediction: Outcome = None, seed: int | None = None) -> None:
    """Chapter 4, task 4: ``gradient_error(eps, dtype)`` is the largest error of the central difference
    (L(z + εe_k) − L(z − εe_k)) / 2ε, computed in ``dtype``, against softmax(z) − onehot(y) for z = (2, −1, 0.5, 3)
    and y = 1; ``prediction`` is the ε that gives the smallest error in float64."""
    task = "finite-difference experiment"
    grid = [10.0 ** -k for k in range(1, 11)]
    if (rng := _hidden(seed)) is not None:  # the logits are the task's; the ε are not the powers of ten
        grid = [10.0 ** -k for k in np.sort(rng.uniform(1, 10, size=10))]
        grid[2] = 10.0 ** -float(rng.uniform(2.8, 3.2))  # one ε near 1e-3, where the central difference must shine
    errors = {dtype: [_float(task, _call(task, gradient_error, eps, dtype), f"the error at ε = {eps:g}")
                      for eps in grid] for dtype in (torch.float64, torch.float32)}
    if min(errors[torch.float64]) > 1e-3:
        _fail(task, f"the smallest float64 error is {min(errors[torch.float64]):.1e}: the derivative is off everywhere",
              "divide the difference by 2ε (the two points are 2ε apart), and compare with softmax(z) − onehot(y)")
    if errors[torch.float64][2] > 1e-5:  # ε = 1e-3, or near it
        _fail(task, f"at ε = {grid[2]:.1e} the float64 error is {errors[torch.float64][2]:.1e}, expected below 1e-5",
              "a one-sided difference (L(z + ε) − L(z)) / ε has error O(ε); the central one has O(ε²)")
    for dtype in (torch.float64, torch.float32):
        for eps, got in zip(grid, errors[dtype], strict=True):
            if abs(math.log10(max(got, 1e-17)) - math.log10(max(_reference_gradient_error(eps, dtype), 1e-17))) > 1.5:
                _fail(task, f"in {dtype} at ε = {eps:g} the error is {got:.1e}, expected about "
                      f"{_reference_gradient_error(eps, dtype):.1e}", "compute the loss itself in dtype: build the "
                      "logits with dtype=dtype, then compare in float64")
    _prediction(task, prediction)
    best = {dtype: grid[int(np.argmin(errors[dtype]))] for dtype in errors}
    _report(task, prediction, f"the best ε is {best[torch.float64]:g} in float64 and {best[torch.float32]:g} in float32",
            abs(math.log10(float(prediction)) - math.log10(best[torch.float64])) <= 1)


def check_temperature_experiment(hard_negative_share: Callable[[torch.Tensor, float], float],
                                 prediction: Outcome = None, seed: int | None = None) -> None:
    """Chapter 4, task 5: ``hard_negative_share(similarities, tau)`` takes one anchor's cosine similarities (the
    positive first) and returns the hardest negative's share of the gradient that InfoNCE puts on the negatives,
    p_hard / Σ_{j≠positive} p_j with p = softmax(s / τ); ``prediction``: what the share does as τ falls from 1 to
    0.05 ("rises", "stays" or "falls")."""
    task = "temperature experiment"
    similarities, taus = torch.tensor([0.8, 0.6, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2]), (1.0, 0.05)
    if (rng := _hidden(seed)) is not None:  # the hardest negative need not come first among them
        negatives = rng.permutation(np.round(np.sort(rng.uniform(-0.9, 0.85, size=rng.integers(3, 16)))[::-1], 3))
        similarities = torch.tensor([0.9, *negatives.tolist()])
        taus = (round(float(rng.uniform(0.7, 1.5)), 3), round(float(rng.uniform(0.02, 0.1)), 3))
    shares = {}
    hardest = 1 + int(similarities[1:].argmax())
    for tau in taus:
        got = _float(task, _call(task, hard_negative_share, similarities.clone(), tau), f"the share at τ = {tau}")
        p = torch.softmax(similarities / tau, 0)
        expected = float(p[hardest] / p[1:].sum())
        if not math.isclose(got, expected, rel_tol=1e-4):
            with_positive = float(p[hardest] / p.sum())
            hint = ("that divides by all the probabilities, the positive's too: the share is among the negatives"
                    if math.isclose(got, with_positive, rel_tol=1e-4) else
                    "∂L/∂s_j = p_j for a negative j: the share is p_hard / Σ_{j≠0} p_j with p = softmax(s / τ)")
            _fail(task, f"at τ = {tau} you returned {got:.4f}, expected {expected:.4f}", hint)
        shares[tau] = got
    _prediction(task, prediction, ["rises", "stays", "falls"])
    high, low = taus
    _report(task, prediction, f"{shares[high]:.2f} at τ = {high:g} and {shares[low]:.2f} at τ = {low:g}",
            prediction == "rises")


# ---------------------------------------------------------------- chapter 5


def _small_classifier(seed: int = 0, rows: int = 12) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor,
                                                               list[torch.Tensor]]:
    """A seeded float64 MLP, a batch of ``rows`` rows, and the full batch's gradient of its mean cross-entropy (the
    reference of the accumulation and data-parallel experiments); the model's gradients are left at zero."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    inputs, targets = torch.randn(rows, 5, dtype=torch.float64), torch.randint(3, (rows,))
    model.zero_grad()
    F.cross_entropy(model(inputs), targets).backward()
    full = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    return model, inputs, targets, full


def _gradients(task: str, got: Any, like: Sequence[torch.Tensor], hint: str) -> list[torch.Tensor]:
    """The learner's gradients, one tensor per parameter shaped like ``like``, or a failure that says so."""
    if not isinstance(got, (list, tuple)) or len(got) != len(like) or not all(
            isinstance(g, torch.Tensor) and g.shape == f.shape for g, f in zip(got, like, strict=False)):
        _fail(task, f"expected {len(like)} gradient tensors, one per parameter in model.parameters() order, shaped "
              f"{[tuple(f.shape) for f in like]}; got {_short(got)}", hint)
    return list(got)


def check_accumulation_experiment(accumulated_gradients: Callable[..., Sequence[torch.Tensor]],
                                  prediction: Outcome = None, seed: int | None = None) -> None:
    """Chapter 5, task 4: ``accumulated_gradients(model, inputs, targets, micro_batches)`` returns the gradient of
    the mean cross-entropy over the whole batch, one tensor per parameter, computed by accumulating
    ``micro_batches`` equal slices; ``prediction``: is it the full batch's gradient ("same") or not ("different")?"""
    task = "gradient-accumulation experiment"
    model, inputs, targets, full = _small_classifier()
    micro_batches = 4
    if (rng := _hidden(seed)) is not None:
        micro_batches = int(rng.choice([2, 3, 6]))
        model, inputs, targets, full = _small_classifier(_torch_seed(rng), micro_batches * int(rng.integers(1, 5)))
    gap = 0.0
    for attempt in range(2):  # twice: gradients left over from a first call must not leak into the second
        got = _call(task, accumulated_gradients, model, inputs, targets, micro_batches)
        got = _gradients(task, got, full, "return [p.grad.clone() for p in model.parameters()]")
        ratio = float(got[-1].flatten() @ full[-1].flatten() / (full[-1].flatten() @ full[-1].flatten()))
        if not all(torch.allclose(g, f, atol=1e-10) for g, f in zip(got, full, strict=True)):
            if attempt == 1 and math.isclose(ratio, 2, rel_tol=1e-6):
                _fail(task, "the second call returned twice the gradient", "zero the gradients (model.zero_grad()) "
                      "before accumulating: .backward() adds to whatever .grad holds")
            hint = ("that is the sum of the micro-batch means: divide each micro-batch's loss by the number of "
                    "micro-batches" if math.isclose(ratio, micro_batches, rel_tol=1e-6) else
                    "slice the batch into equal parts, call backward on each part's loss / micro_batches")
            _fail(task, f"your gradient is {ratio:.3f} times the full batch's", hint)
        gap = max(float((g - f).abs().max()) for g, f in zip(got, full, strict=True))
    _prediction(task, prediction, ["same", "different"])
    _report(task, prediction, f"a largest difference of {gap:.1e} in float64", prediction == "same")


def check_precision_experiment(relative_error: Callable[[torch.dtype], float], prediction: Outcome = None,
                               seed: int | None = None) -> None:
    """Chapter 5, task 5: ``relative_error(dtype)`` multiplies two seeded 256 × 256 N(0, 1) matrices in ``dtype``
    and returns ‖AB − (AB)₆₄‖ / ‖(AB)₆₄‖ against float64; ``prediction``: the less precise of "bf16" and "fp16"."""
    task = "precision experiment"
    _hidden(seed)  # the task fixes the matrices and the dtypes: the hidden call repeats the notebook's
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    got = {name: _float(task, _call(task, relative_error, dtype), f"the error in {name}")
           for name, dtype in dtypes.items()}
    if min(got.values()) <= 0:
        _fail(task, f"an error of 0 ({got}): the product was compared with itself",
              "compute the reference in float64 from the same matrices, and the product in dtype")
    decades = {"fp32": (-8.5, -5.5), "bf16": (-3.5, -1.5), "fp16": (-4.5, -2.5)}
    for name, (low, high) in decades.items():
        if not low <= math.log10(got[name]) <= high:
            _fail(task, f"the {name} error is {got[name]:.1e}, expected between 1e{low:g} and 1e{high:g}",
                  "cast both matrices to dtype, multiply, cast the product back to float64, and take the ratio "
                  "of Frobenius norms (torch.linalg.norm)")
    _prediction(task, prediction, ["bf16", "fp16"])
    worse = max(("bf16", "fp16"), key=got.get)
    _report(task, prediction, ", ".join(f"{name} {value:.1e}" for name, value in got.items()), prediction == worse)


# ---------------------------------------------------------------- chapter 6


def check_beam_experiment(decode_and_score: Callable[..., float], prediction: Outcome = None,
                          model: Any = None, tokenizer: Any = None, sources: Sequence[str] = (),
                          references: Sequence[str] = (), measured: Mapping[int, float] | None = None,
                          target_lang: str = "fr", seed: int | None = None) -> None:
    """Chapter 6, task 5: ``decode_and_score(model, tokenizer, sources, references, num_beams)`` translates with
    :func:`~xlm_course.applications.translation.translate` into ``target_lang`` and returns corpus chrF
    (:func:`~xlm_course.applications.translation.translation_scores`); ``prediction``: what chrF does
    from 1 beam to the widest in ``measured`` ("rises", "stays" or "falls"; "stays" means within one point)."""
    from ..applications.translation import translate, translation_scores

    task = "beam-size experiment"
    rows = list(range(min(24, len(sources))))
    if (rng := _hidden(seed)) is not None and len(sources) > 24:  # 24 other messages
        rows = sorted(rng.choice(len(sources), size=24, replace=False).tolist())
    few_sources, few_references = [sources[i] for i in rows], [references[i] for i in rows]
    got = _float(task, _call(task, decode_and_score, model, tokenizer, few_sources, few_references, 1), "chrF")
    expected = translation_scores(translate(model, tokenizer, few_sources, num_beams=1), few_references, target_lang)["chrF"]
    if not math.isclose(got, expected, abs_tol=1e-6):
        hint = ("that is BLEU: chrF compares character n-grams (sacrebleu.corpus_chrf)" if math.isclose(
            got, translation_scores(translate(model, tokenizer, few_sources), few_references, target_lang)["BLEU"])
            else "translate(model, tokenizer, sources, num_beams=num_beams), then corpus chrF against references")
        _fail(task, f"greedy on {'the first' if rng is None else ''} {len(rows)} messages: you returned {got:.2f}, expected {expected:.2f}", hint)
    _prediction(task, prediction, ["rises", "stays", "falls"])
    if not measured or 1 not in measured:
        _fail(task, "measured should map each beam size, 1 included, to its chrF", "measured = {1: ..., 4: ...}")
    widest = max(measured)
    change = float(measured[widest]) - float(measured[1])
    outcome = "stays" if abs(change) <= 1 else "rises" if change > 0 else "falls"
    _report(task, prediction, f"chrF {measured[1]:.1f} with 1 beam and {measured[widest]:.1f} with {widest}",
            prediction == outcome)


def check_segmentation_experiment(split_characters: Callable[[str], str], prediction: Outcome = None,
                                  bleu: Callable[[Sequence[str], Sequence[str]], float] | None = None,
                                  hypotheses: Sequence[str] = (), references: Sequence[str] = (),
                                  seed: int | None = None) -> None:
    """Chapter 6, task 6: ``split_characters(text)`` puts one space between every two non-space characters (and
    drops the spaces that were there); ``prediction``: compared with BLEU on characters, is BLEU on whitespace
    tokens of near-perfect Chinese translations "much lower" (by more than 20 points) or "about the same"?
    ``bleu`` (Task 4's) is measured on ``hypotheses`` and ``references`` as they are and split into characters."""
    task = "segmentation experiment"
    texts = ["输入一个有效的 Email 地址。", "a b", "修改"]
    if (rng := _hidden(seed)) is not None:
        alphabet = list("删除保存取消确认文件夹名称。，ab Email ") + ["  ", "\t"]
        texts = ["".join(rng.choice(alphabet, size=rng.integers(1, 25))) for _ in range(3)]
    for text in texts:
        expected = " ".join(char for char in text if not char.isspace())
        got = _call(task, split_characters, text)
        if got != expected:
            hint = ("drop the spaces that were there: split into the non-space characters, then join with one space"
                    if isinstance(got, str) and got.replace("   ", " ") == expected else
                    "' '.join(character for character in text if not character.isspace())")
            _fail(task, f"for {text!r} you returned {got!r}, expected {expected!r}", hint)
    _prediction(task, prediction, ["much lower", "about the same"])
    if bleu is None or not hypotheses:
        return print(f"✓ {task}: split_characters is correct (give bleu=, hypotheses= and references= to measure)")
    raw = _float(task, _call(task, bleu, list(hypotheses), list(references)), "BLEU")
    split = _float(task, _call(task, bleu, [split_characters(h) for h in hypotheses],
                               [split_characters(r) for r in references]), "BLEU")
    _report(task, prediction, f"BLEU {raw:.1f} on whitespace tokens and {split:.1f} on characters",
            prediction == ("much lower" if split - raw > 20 else "about the same"))


# ---------------------------------------------------------------- chapter 8


def check_pruning_experiment(first_level_losing: Callable[[pd.DataFrame, float], Mapping[str, float | None]],
                             prediction: Outcome = None, accuracy: pd.DataFrame | None = None,
                             points: float = 1.0, seed: int | None = None) -> None:
    """Chapter 8, task 5: ``first_level_losing(accuracy, points)`` takes accuracies (rows: pruning levels in
    increasing order, the first 0; columns: languages) and returns, per language, the first level at which it has
    lost at least ``points`` accuracy points (None if it never does); ``prediction``: which loses ``points``
    first in ``accuracy``, "English" or "a target language" (a tie counts for the target languages)."""
    task = "pruning experiment"
    # French never drops a point between neighbouring levels but has lost one by 0.4: comparing each level with
    # the one before it (a usual mistake) answers 0.6 there.
    toy = pd.DataFrame({"en": [0.80, 0.80, 0.795, 0.78, 0.60], "fr": [0.50, 0.495, 0.489, 0.40, 0.30],
                        "ja": [0.40, 0.41, 0.40, 0.395, 0.392]}, index=[0.0, 0.2, 0.4, 0.6, 0.8])
    expected, threshold = {"en": 0.6, "fr": 0.4, "ja": None}, 1.0
    if (rng := _hidden(seed)) is not None:  # accuracies that fall (and sometimes rise a little) at random
        levels = np.round(np.linspace(0, 0.9, int(rng.integers(3, 9))), 2).tolist()
        threshold = float(rng.choice([0.5, 1.0, 2.0, 5.0]))
        columns = {}
        for lang in ("en", "fr", "ja"):
            # whole thousandths plus 0.4 of one: no drop lands on a threshold, where rounding would decide
            drops = np.concatenate([[0], np.cumsum(rng.integers(-3, 40, size=len(levels) - 1)) + 0.4]) / 1000
            columns[lang] = np.round(round(float(rng.uniform(0.3, 0.9)), 3) - drops, 4).tolist()
        toy = pd.DataFrame(columns, index=levels)
        expected = {lang: next((float(level) for level, value in toy[lang].items()
                                if value <= toy[lang].iloc[0] - threshold / 100 + 1e-9), None) for lang in toy}
    got = _call(task, first_level_losing, toy.copy(), threshold)
    if not isinstance(got, Mapping) or set(got) != set(expected):
        _fail(task, f"expected one entry per language {sorted(expected)}, got {_keys(got)}", "return {language: level}")
    for lang, level in expected.items():
        value = got[lang]
        if (value is None) != (level is None) or (level is not None and not math.isclose(float(value), level)):
            if value is None:
                hint = "accuracies are fractions and points hundredths: compare with accuracy at level 0 − points / 100"
            elif level is None:
                hint = "return None for a language that never loses that much"
            elif lang == "fr" and math.isclose(float(value), 0.6):
                hint = "compare each level with level 0 (the unpruned model), not with the level before it"
            else:
                hint = "the first level, in increasing order, whose accuracy is at least points / 100 below level 0's"
            _fail(task, f"{lang!r}: you returned {value!r}, expected {level!r} (accuracies {toy[lang].tolist()})", hint)
    _prediction(task, prediction, ["English", "a target language"])
    if accuracy is None:
        return print(f"✓ {task}: first_level_losing is correct (give accuracy= to read the experiment)")
    levels = _call(task, first_level_losing, accuracy, points)
    never = float("inf")
    english = never if levels.get("en") is None else float(levels["en"])
    targets = [never if level is None else float(level) for lang, level in levels.items() if lang != "en"]
    outcome = "English" if english < min(targets) else "a target language"
    _report(task, prediction, f"English at {levels.get('en')}, the first target language at "
            f"{min(targets) if min(targets) < never else None}", prediction == outcome)


def _shard_reference(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     shards: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """What DDP computes: each shard's mean-loss gradient, averaged over the shards."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for rows in shards:
        model.zero_grad()
        F.cross_entropy(model(inputs[list(rows)]), targets[list(rows)]).backward()
        total = [t + p.grad / len(shards) for t, p in zip(total, model.parameters(), strict=True)]
    model.zero_grad()
    return total


def check_ddp_experiment(ddp_gradients: Callable[..., Sequence[torch.Tensor]], prediction: Outcome = None,
                         seed: int | None = None) -> None:
    """Chapter 8, task 6: ``ddp_gradients(model, inputs, targets, shards)`` computes what data-parallel training
    does, one process per shard (a list of row indices): each shard's gradient of its own mean cross-entropy, then
    their average (DDP's all-reduce); ``prediction``: with *unequal* shards (7 rows and 5), is that the full batch's
    gradient, "same" or "different"?"""
    task = "data-parallel experiment"
    model, inputs, targets, full = _small_classifier()
    layouts = (("equal", [list(range(0, 12, 2)), list(range(1, 12, 2))]),
               ("unequal", [list(range(7)), list(range(7, 12))]))
    if (rng := _hidden(seed)) is not None:
        processes, each = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        model, inputs, targets, full = _small_classifier(_torch_seed(rng), processes * each)
        order = rng.permutation(processes * each).tolist()
        cut = sorted(rng.choice(np.arange(1, processes * each), size=processes - 1, replace=False).tolist())
        layouts = (("equal", [order[i::processes] for i in range(processes)]),
                   ("unequal", [order[a:b] for a, b in zip([0, *cut], [*cut, processes * each], strict=True)]))
    gaps = {}
    for name, shards in layouts:
        got = _call(task, ddp_gradients, model, inputs, targets, shards)
        expected = _shard_reference(model, inputs, targets, shards)
        got = _gradients(task, got, expected, "return the averaged gradients as a list of tensors")
        if not all(torch.allclose(g, e, atol=1e-10) for g, e in zip(got, expected, strict=True)):
            summed = [len(shards) * e for e in expected]
            hint = ("that is the sum over the processes: all-reduce sums, and DDP divides by the number of processes"
                    if all(torch.allclose(g, s, atol=1e-10) for g, s in zip(got, summed, strict=True)) else
                    "that is the full batch's gradient: each process only sees its own shard and averages over it"
                    if all(torch.allclose(g, f, atol=1e-10) for g, f in zip(got, full, strict=True)) else
                    "for each shard: zero the gradients, backward on the shard's mean loss, keep a copy; then average")
            _fail(task, f"with {name} shards your gradients differ from what DDP computes", hint)
        gaps[name] = max(float((g - f).abs().max()) for g, f in zip(got, full, strict=True))
    _prediction(task, prediction, ["same", "different"])
    _report(task, prediction, f"a largest difference from the full batch of {gaps['equal']:.1e} with equal shards and "
            f"{gaps['unequal']:.1e} with unequal ones", prediction == ("same" if gaps["unequal"] < 1e-10 else "different"))


# ---------------------------------------------------------------- chapter 9


def _check_probe(task: str, probe: Callable[..., float], seed: int | None = None) -> None:
    """``probe(embed, english, translations, lang)``: top-1 retrieval averaged over both directions."""
    vectors = {"one": [1.0, 0.0], "two": [0.0, 1.0], "three": [0.9, 0.44],  # "un" is nearest to two of them
               "un": [0.95, 0.3], "deux": [0.0, 1.0], "trois": [0.5, 0.87]}
    if (rng := _hidden(seed)) is not None:  # noisy translations of random words: the two directions differ
        english, french = ["one", "two", "three"], ["un", "deux", "trois"]
        words = rng.normal(size=(3, 4))
        noisy = words + rng.normal(scale=float(rng.uniform(0.3, 1.5)), size=(3, 4))
        vectors = {**dict(zip(english, words.tolist(), strict=True)), **dict(zip(french, noisy.tolist(), strict=True))}

    def embed(texts: Sequence[str], lang: str) -> torch.Tensor:
        return torch.tensor([vectors[text] for text in texts])

    english, french = ["one", "two", "three"], ["un", "deux", "trois"]
    got = _float(task, _call(task, probe, embed, english, french, "fr"), "the probe")
    forward = top1_accuracy(embed(english, "en"), embed(french, "fr"))
    backward = top1_accuracy(embed(french, "fr"), embed(english, "en"))
    if not math.isclose(got, (forward + backward) / 2, abs_tol=1e-9):
        hint = ("that is one direction only: average en → xx and xx → en" if any(
            math.isclose(got, value, abs_tol=1e-9) for value in (forward, backward)) else
            "embed both sides (embed(english, 'en'), embed(translations, lang)) and take top-1 by cosine each way")
        _fail(task, f"on three toy pairs you returned {got:.3f}, expected {(forward + backward) / 2:.3f} (en → fr "
              f"{forward:.3f}, fr → en {backward:.3f})", hint)


def check_domain_experiment(probe: Callable[..., float], prediction: Outcome = None,
                            measured: Mapping[str, float] | None = None, seed: int | None = None) -> None:
    """Chapter 9, task 1: the retrieval probe of Q1 (``probe(embed, english, translations, lang)``, top-1 in both
    directions, averaged); ``prediction``: on which held-out domain does chapter 3's encoder (aligned on UI
    messages) retrieve translations better, "UI messages" or "emoji names"? ``measured`` maps each to its mean."""
    task = "domain-probe experiment"
    _check_probe(task, probe, seed)
    names = ["UI messages", "emoji names"]
    _prediction(task, prediction, names)
    if measured is None:
        return print(f"✓ {task}: the probe is correct (give measured= to compare the domains)")
    measured = _shares(task, measured, names)
    _report(task, prediction, ", ".join(f"{n} {v:.3f}" for n, v in measured.items()),
            prediction == max(measured, key=measured.get))


def check_baseline_experiment(probe: Callable[..., float], prediction: Outcome = None,
                              measured: Mapping[str, float] | None = None, seed: int | None = None) -> None:
    """Chapter 9, task 2: Q3's baseline with no pretraining; ``prediction``: does a *randomly initialised* encoder
    retrieve the French translations of UI messages more often than the Japanese ones, "yes" or "no"?
    ``measured`` holds the probe's "French" and "Japanese" results (and any other languages)."""
    task = "baseline experiment"
    _check_probe(task, probe, seed)
    _prediction(task, prediction, ["yes", "no"])
    if measured is None or not {"French", "Japanese"} <= set(measured):
        _fail(task, "measured should hold the probe's 'French' and 'Japanese' results",
              "measured = {'French': ..., 'Japanese': ...}")
    french, japanese = (_float(task, measured[name], name) for name in ("French", "Japanese"))
    _report(task, prediction, f"French {french:.3f}, Japanese {japanese:.3f}",
            prediction == ("yes" if french > japanese else "no"))


EXPERIMENTS: dict[str, list[Callable[..., None]]] = {
    "01": [check_alpha_experiment, check_token_premium_experiment],
    "02": [check_scaling_experiment, check_order_experiment],
    "03": [check_retrieval_experiment, check_window_experiment],
    "04": [check_epsilon_experiment, check_temperature_experiment],
    "05": [check_accumulation_experiment, check_precision_experiment],
    "06": [check_beam_experiment, check_segmentation_experiment],
    "08": [check_pruning_experiment, check_ddp_experiment],
    "09": [check_domain_experiment, check_baseline_experiment],
}
