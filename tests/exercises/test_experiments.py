"""The experiment checks (xlm_course.exercises.experiments): each passes a correct experiment, names a typical
wrong one, and refuses a missing or unoffered prediction."""

import math
from collections import Counter

import datasets
import pandas as pd
import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from xlm_course import exercises as ex
from xlm_course.data import LanguageBalancedSampler
from xlm_course.deployment.distillation import distillation_loss
from xlm_course.models.attention import scaled_dot_product_attention
from xlm_course.ranking import top1_accuracy
from xlm_course.text.fertility import token_premium
from xlm_course.text.inputs import tlm_ids


def _fails(check, *args, fragments=(), **kwargs):
    with pytest.raises(ex.ExerciseFailed) as failure:
        check(*args, **kwargs)
    message = str(failure.value)
    assert "Hint:" in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def drawn_shares(languages, alpha, draws, seed):
    rows = LanguageBalancedSampler(languages, alpha=alpha, seed=seed).draw(draws, torch.Generator().manual_seed(seed))
    counts = Counter(languages[i] for i in rows.tolist())
    return {lang: counts[lang] / draws for lang in set(languages)}


def test_alpha_experiment(capsys):
    corpus = ["en"] * 5000 + ["fr"] * 2000 + ["sw"] * 100
    ex.check_alpha_experiment(drawn_shares, 3.0, languages=corpus)
    out = capsys.readouterr().out
    assert "✓" in out and "'sw'" in out and "not what you predicted" in out  # the factor is about 8, not 3
    ex.check_alpha_experiment(drawn_shares, 8.0, languages=corpus)
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_alpha_experiment, lambda langs, alpha, draws, seed: dict(Counter(langs)), 3.0,
           fragments=("sum to",))
    _fails(ex.check_alpha_experiment, lambda langs, alpha, draws, seed: drawn_shares(langs, 1.0, draws, seed), 3.0,
           fragments=("α = 0.3",))
    _fails(ex.check_alpha_experiment, drawn_shares, None, fragments=("no prediction",))
    _fails(ex.check_alpha_experiment, drawn_shares, "more", fragments=("not a positive number",))


def test_token_premium_experiment(capsys):
    def premium(tokenizer, parallel, languages):
        return token_premium(tokenizer, parallel, languages).to_dict()

    class Words:
        def tokenize(self, text):
            return text.split()

    parallel = datasets.Dataset.from_dict({"concept": ["a", "a", "a"], "lang": ["en", "fr", "de"],
                                           "text": ["one two", "un deux trois", "eins"]})
    ex.check_token_premium_experiment(premium, "fr", Words(), parallel, ["fr", "de"])
    assert "(as you predicted)" in capsys.readouterr().out
    ex.check_token_premium_experiment(premium, "de", Words(), parallel, ["fr", "de"])
    assert "not what you predicted" in capsys.readouterr().out

    def mean_of_ratios(tokenizer, parallel, languages):
        rows = {}
        for concept, lang, text in zip(parallel["concept"], parallel["lang"], parallel["text"], strict=True):
            rows.setdefault(concept, {})[lang] = len(tokenizer.tokenize(text))
        return {lang: sum(r[lang] / r["en"] for r in rows.values() if lang in r) / sum(
            lang in r for r in rows.values()) for lang in languages}

    _fails(ex.check_token_premium_experiment, mean_of_ratios, "fr", fragments=("mean of per-message ratios",))
    _fails(ex.check_token_premium_experiment, premium, "xx", Words(), parallel, ["fr", "de"],
           fragments=("not one of",))


def attention_entropy(d, scaled, keys=64, seed=0, by=math.sqrt):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(32, d, generator=generator), torch.randn(keys, d, generator=generator)
    scores = q @ k.T / (by(d) if scaled else 1.0)
    p = torch.softmax(scores, dim=-1)
    return float(-(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean())


def test_scaling_experiment(capsys):
    ex.check_scaling_experiment(attention_entropy, "falls")
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_scaling_experiment, lambda d, scaled: attention_entropy(d, scaled, by=float), "falls",
           fragments=("not by d",))
    _fails(ex.check_scaling_experiment, lambda d, scaled: attention_entropy(d, True), "falls",
           fragments=("raw scores",))
    _fails(ex.check_scaling_experiment, attention_entropy, "shrinks", fragments=("not one of",))


def order_gap(x, positions, permutation):
    h, moved = x + positions, x[permutation] + positions
    return float((scaled_dot_product_attention(moved, moved, moved)[0]
                  - scaled_dot_product_attention(h, h, h)[0][permutation]).abs().max())


def test_order_experiment(capsys):
    ex.check_order_experiment(order_gap, "large")
    assert "not what you predicted" in capsys.readouterr().out

    def positions_move_too(x, positions, permutation):
        return order_gap(x, positions[permutation] - positions + positions, permutation) * 0

    _fails(ex.check_order_experiment, positions_move_too, "zero", fragments=("move with the tokens",))


def tlm_pair(first, second, first_language_id, second_language_id, sep_id):
    ids = first + [sep_id] + second[1:]
    positions = list(range(2, 2 + len(first))) + list(range(2, 2 + len(second)))
    languages = [first_language_id] * len(first) + [second_language_id] * len(second)
    return {"input_ids": ids, "position_ids": positions, "token_type_ids": languages}


def test_tlm_pair_check():
    ex.check_tlm_pair(tlm_pair)
    reference = tlm_ids([[0, 5, 2]], [[0, 6, 2]], ["a"], ["b"], {"a": 1, "b": 3}, 2, 1)
    assert tlm_pair([0, 5, 2], [0, 6, 2], 1, 3, 2)["position_ids"] == reference["position_ids"][0].tolist()

    def no_reset(*args):
        pair = tlm_pair(*args)
        return {**pair, "position_ids": list(range(2, 2 + len(pair["input_ids"])))}

    _fails(ex.check_tlm_pair, no_reset, fragments=("restart",))
    _fails(ex.check_tlm_pair, lambda a, b, x, y, sep: {**tlm_pair(a, b, x, y, sep), "input_ids": a + b},
           fragments=("</s></s>",))


def test_retrieval_experiment(capsys):
    ex.check_retrieval_experiment(top1_accuracy, "UI pairs only", {"UI pairs only": 0.6, "UI + emoji pairs": 0.5})
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_retrieval_experiment, lambda q, c: float(((q @ c.T).argmax(1) == torch.arange(len(q))).float()
                                                             .mean()), "UI pairs only", fragments=("dot product",))
    _fails(ex.check_retrieval_experiment, top1_accuracy, "both", fragments=("not one of",))


def gradient_error(eps, dtype, central=True):
    logits, target = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=dtype), torch.tensor([1])
    exact = torch.softmax(logits.double(), 0) - F.one_hot(target[0], 4)
    numerical = []
    for k in range(4):
        step = torch.zeros(4, dtype=dtype)
        step[k] = eps
        up = F.cross_entropy((logits + step)[None], target).double()
        down = F.cross_entropy((logits - step * central)[None], target).double()
        numerical.append((up - down) / (2 * eps if central else eps))
    return float((torch.stack(numerical) - exact).abs().max())


def test_epsilon_experiment(capsys):
    ex.check_epsilon_experiment(gradient_error, 1e-5)
    out = capsys.readouterr().out
    assert "(as you predicted)" in out and "in float32" in out
    _fails(ex.check_epsilon_experiment, lambda eps, dtype: gradient_error(eps, dtype, central=False), 1e-5,
           fragments=("one-sided",))
    _fails(ex.check_epsilon_experiment, lambda eps, dtype: 2 * gradient_error(eps, dtype) + 0.1, 1e-5,
           fragments=("2ε",))


def hard_negative_share(similarities, tau):
    p = torch.softmax(similarities / tau, 0)
    return float(p[1:].max() / p[1:].sum())


def test_temperature_experiment(capsys):
    ex.check_temperature_experiment(hard_negative_share, "stays")
    assert "not what you predicted" in capsys.readouterr().out
    _fails(ex.check_temperature_experiment, lambda s, tau: float(torch.softmax(s / tau, 0)[1]), "rises",
           fragments=("the positive's too",))
    _fails(ex.check_temperature_experiment, lambda s, tau: hard_negative_share(s, 1.0), "rises",
           fragments=("τ = 0.05",))


def accumulated_gradients(model, inputs, targets, micro_batches, scale=True, zero=True):
    if zero:
        model.zero_grad()
    for x, y in zip(inputs.chunk(micro_batches), targets.chunk(micro_batches), strict=True):
        (F.cross_entropy(model(x), y) / (micro_batches if scale else 1)).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_accumulation_experiment(capsys):
    ex.check_accumulation_experiment(accumulated_gradients, "same")
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_accumulation_experiment, lambda *a: accumulated_gradients(*a, scale=False), "same",
           fragments=("4.000 times",))
    _fails(ex.check_accumulation_experiment, lambda *a: accumulated_gradients(*a, zero=False), "same",
           fragments=("zero the gradients",))


def relative_error(dtype):
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 256, generator=generator), torch.randn(256, 256, generator=generator)
    exact = a.double() @ b.double()
    return float(torch.linalg.norm((a.to(dtype) @ b.to(dtype)).double() - exact) / torch.linalg.norm(exact))


def test_precision_experiment(capsys):
    ex.check_precision_experiment(relative_error, "bf16")
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_precision_experiment, lambda dtype: 0.0, "bf16", fragments=("compared with itself",))
    _fails(ex.check_precision_experiment, relative_error, "fp8", fragments=("not one of",))


def bleu(hypotheses, references):
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize="none", smooth_method="none").score


def test_bleu_check():
    ex.check_bleu(bleu)

    def unclipped(hypotheses, references):
        logs, hyp_length, ref_length = [], 0, 0
        for n in range(1, 5):
            matches = total = 0
            for h, r in zip(hypotheses, references, strict=True):
                h, r = h.split(), r.split()
                grams = [tuple(r[i:i + n]) for i in range(len(r) - n + 1)]
                own = [tuple(h[i:i + n]) for i in range(len(h) - n + 1)]
                matches += sum(g in grams for g in own)
                total += len(own)
            logs.append(math.log(matches / total))
        hyp_length = sum(len(h.split()) for h in hypotheses)
        ref_length = sum(len(r.split()) for r in references)
        return 100 * min(1, math.exp(1 - ref_length / hyp_length)) * math.exp(sum(logs) / 4)

    _fails(ex.check_bleu, unclipped, fragments=("clip",))


class _Translator:
    """Stands in for a model: translate() is patched to echo the sources."""


def test_beam_experiment(monkeypatch, capsys):
    from xlm_course.applications import translation

    monkeypatch.setattr(translation, "translate", lambda model, tokenizer, texts, num_beams=1, **kwargs: list(texts))
    sources, references = ["a b c", "d e f"], ["a b c", "d e x"]

    def decode_and_score(model, tokenizer, sources, references, num_beams):
        return translation.translation_scores(translation.translate(model, tokenizer, sources, num_beams=num_beams),
                                              references, "fr")["chrF"]

    ex.check_beam_experiment(decode_and_score, "rises", _Translator(), None, sources, references, {1: 10.0, 4: 12.0})
    assert "(as you predicted)" in capsys.readouterr().out
    ex.check_beam_experiment(decode_and_score, "rises", _Translator(), None, sources, references, {1: 10.0, 4: 10.5})
    assert "not what you predicted" in capsys.readouterr().out  # within one point: "stays"

    def bleu_instead(model, tokenizer, sources, references, num_beams):
        return translation.translation_scores(list(sources), references, "fr")["BLEU"]

    _fails(ex.check_beam_experiment, bleu_instead, "rises", _Translator(), None, sources, references, {1: 1, 4: 2},
           fragments=("that is BLEU",))
    _fails(ex.check_beam_experiment, decode_and_score, "rises", _Translator(), None, sources, references, {4: 2},
           fragments=("beam size, 1 included",))


def test_distillation_loss_check():
    ex.check_distillation_loss(distillation_loss)

    def without_t_squared(student, teacher, labels, temperature, alpha):
        soft = F.kl_div(F.log_softmax(student / temperature, -1), F.softmax(teacher / temperature, -1),
                        reduction="batchmean")
        return alpha * F.cross_entropy(student, labels) + (1 - alpha) * soft

    _fails(ex.check_distillation_loss, without_t_squared, fragments=("T²",))

    def reversed_kl(student, teacher, labels, temperature, alpha):
        soft = F.kl_div(F.log_softmax(teacher / temperature, -1), F.softmax(student / temperature, -1),
                        reduction="batchmean") * temperature**2
        return alpha * F.cross_entropy(student, labels) + (1 - alpha) * soft

    _fails(ex.check_distillation_loss, reversed_kl, fragments=("expected",))


def first_level_losing(accuracy, points):
    found = {}
    for lang in accuracy.columns:
        lost = accuracy.index[accuracy[lang] <= accuracy[lang].iloc[0] - points / 100 + 1e-12]
        found[lang] = float(lost[0]) if len(lost) else None
    return found


def test_pruning_experiment(capsys):
    table = pd.DataFrame({"en": [0.8, 0.8, 0.7], "fr": [0.5, 0.45, 0.3]}, index=[0.0, 0.3, 0.6])
    ex.check_pruning_experiment(first_level_losing, "a target language", table)
    assert "(as you predicted)" in capsys.readouterr().out
    _fails(ex.check_pruning_experiment, lambda accuracy, points: first_level_losing(accuracy, 100 * points),
           "English", fragments=("'en'", "points / 100"))
    _fails(ex.check_pruning_experiment, first_level_losing, "French", fragments=("not one of",))


@pytest.mark.parametrize("check", [check for checks in ex.EXPERIMENTS.values() for check in checks])
def test_every_experiment_check_is_in_a_chapter(check):
    assert any(check in checks for checks in ex.CHECKS.values())


def spectrum(signal, n_fft, window=True, power=1):
    stft = torch.stft(signal, n_fft, hop_length=n_fft // 4, return_complex=True,
                      window=torch.hann_window(n_fft) if window else torch.ones(n_fft))
    return stft.abs().pow(power).mean(-1)


def test_window_experiment(capsys):
    ex.check_window_experiment(spectrum, "long")
    out = capsys.readouterr().out
    assert "(as you predicted)" in out and "1 peak(s) near 1 kHz with n_fft = 128 and 2 with 2048" in out
    _fails(ex.check_window_experiment, lambda s, n: spectrum(s, n, window=False), "long", fragments=("hann_window",))
    _fails(ex.check_window_experiment, lambda s, n: spectrum(s, n, power=2), "long", fragments=("power",))
    _fails(ex.check_window_experiment, lambda s, n: spectrum(s, n)[None], "long", fragments=("shape",))


def split_characters(text):
    return " ".join(char for char in text if not char.isspace())


def test_segmentation_experiment(capsys):
    references = ["输入一个有效的地址。", "修改密码"]
    hypotheses = ["输入一个有效地址。", "修改密码"]
    ex.check_segmentation_experiment(split_characters, "much lower", bleu, hypotheses, references)
    out = capsys.readouterr().out
    assert "(as you predicted)" in out, out
    _fails(ex.check_segmentation_experiment, lambda text: " ".join(text), "much lower", fragments=("drop the spaces",))
    _fails(ex.check_segmentation_experiment, split_characters, "medium", fragments=("not one of",))


def ddp_gradients(model, inputs, targets, shards, average=True):
    total = [torch.zeros_like(p) for p in model.parameters()]
    for rows in shards:
        model.zero_grad()
        F.cross_entropy(model(inputs[rows]), targets[rows]).backward()
        total = [t + p.grad / (len(shards) if average else 1) for t, p in zip(total, model.parameters(), strict=True)]
    return total


def test_ddp_experiment(capsys):
    ex.check_ddp_experiment(ddp_gradients, "different")
    out = capsys.readouterr().out
    assert "(as you predicted)" in out and "with equal shards" in out
    _fails(ex.check_ddp_experiment, lambda *a: ddp_gradients(*a, average=False), "same", fragments=("all-reduce sums",))

    def full_batch(model, inputs, targets, shards):
        model.zero_grad()
        rows = [row for shard in shards for row in shard]
        F.cross_entropy(model(inputs[rows]), targets[rows]).backward()
        return [p.grad.clone() for p in model.parameters()]

    _fails(ex.check_ddp_experiment, full_batch, "same", fragments=("differ from what DDP computes", "own shard"))


def probe(embed, english, translations, lang):
    a, b = embed(english, "en"), embed(translations, lang)
    return (top1_accuracy(a, b) + top1_accuracy(b, a)) / 2


def test_domain_and_baseline_experiments(capsys):
    ex.check_domain_experiment(probe, "UI messages", {"UI messages": 0.6, "emoji names": 0.1})
    assert "(as you predicted)" in capsys.readouterr().out
    ex.check_baseline_experiment(probe, "no", {"French": 0.12, "Japanese": 0.07})
    assert "not what you predicted" in capsys.readouterr().out
    one_way = lambda embed, english, translations, lang: top1_accuracy(embed(english, "en"),  # noqa: E731
                                                                       embed(translations, lang))
    _fails(ex.check_domain_experiment, one_way, "UI messages", fragments=("one direction",))
    _fails(ex.check_baseline_experiment, probe, "yes", {"French": 0.2}, fragments=("'Japanese'",))
    _fails(ex.check_baseline_experiment, probe, "maybe", fragments=("not one of",))
