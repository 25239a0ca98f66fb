"""MAD-X language and task adapters (chapter 8.2): structure, freezing, the swap, and the three steps end to end."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from transformers import XLMRobertaForMaskedLM

from xlm_course.deployment.madx import (
    LanguageAdapterConfig,
    LanguageAndTaskAdapters,
    adapter_languages,
    add_language_adapters,
    evaluate_swapping,
    language_adapter_weights,
    load_language_adapters,
    madx_prepare,
    madx_table,
    set_language,
    train_language_adapters,
    train_only,
)
from xlm_course.objectives import masked_lm_accuracy
from xlm_course.transfer import FineTuneConfig, emoji_category_task

LANGUAGES = ("en", "fr", "de", "ja")


@pytest.fixture(scope="module")
def task():
    return emoji_category_task(LANGUAGES)


@pytest.fixture(scope="module")
def tiny_mlm(tiny_source):
    model = XLMRobertaForMaskedLM(tiny_source.config)
    model.roberta.load_state_dict(tiny_source.weights, strict=False)
    return model


@pytest.fixture(scope="module")
def trained_adapters(tiny_source, tiny_mlm, task):
    texts = {lang: list(task.frame("train", [lang])["text"]) for lang in LANGUAGES}
    return train_language_adapters(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, texts,
                                   LanguageAdapterConfig(steps=6, batch_size=8, warmup_steps=0, bottleneck=4))


@settings(deadline=None, max_examples=25)
@given(st.integers(2, 10), st.integers(1, 4), st.sampled_from([None, 1, 3]), st.integers(0, 10**6))
def test_the_stack_is_projection_then_language_then_task(hidden, bottleneck, task_bottleneck, seed):
    torch.manual_seed(seed)
    stack = LanguageAndTaskAdapters(nn.Linear(hidden, hidden), ["en", "fr"], bottleneck, task_bottleneck)
    x = torch.randn(3, hidden)
    torch.testing.assert_close(stack(x), stack.projection(x))  # every adapter starts at the identity
    for module in stack.modules():
        if isinstance(module, nn.Linear) and module.out_features == hidden and module is not stack.projection:
            nn.init.normal_(module.weight)
    for lang in ("en", "fr"):
        stack.active = lang
        h = stack.languages[lang](stack.projection(x))
        torch.testing.assert_close(stack(x), stack.task(h) if stack.task is not None else h)


def test_the_swap_changes_only_which_adapter_runs(tiny_source, task):
    model = add_language_adapters(tiny_source.classifier(task.labels), LANGUAGES, language_bottleneck=4,
                                  task_bottleneck=2)
    assert adapter_languages(model) == list(LANGUAGES)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    inputs = tiny_source.encode(["red heart", "dog face"], ["fr", "fr"], 16)
    model.eval()
    outputs = {}
    for lang in ("en", "fr"):
        set_language(model, lang)
        assert all(stack.active == lang for stack in model.modules() if isinstance(stack, LanguageAndTaskAdapters))
        with torch.no_grad():
            outputs[lang] = model(**inputs).logits
    assert not torch.allclose(outputs["en"], outputs["fr"])


def test_train_only_freezes_everything_else(tiny_source, task):
    model = add_language_adapters(tiny_source.classifier(task.labels), LANGUAGES, 4, 2)
    names = train_only(model, language="fr")
    assert names and all(".languages.fr." in name for name in names)
    names = train_only(model, task=True, head="classifier")
    assert all(".task." in name or name.startswith("classifier.") for name in names)
    assert any(name.startswith("classifier.") for name in names)
    assert all(not p.requires_grad for n, p in model.named_parameters() if ".languages." in n)


def test_bad_input_is_refused_clearly(tiny_source, task):
    with pytest.raises(ValueError, match="distinct"):
        LanguageAndTaskAdapters(nn.Linear(4, 4), ["en", "en"], 2, None)
    model = tiny_source.classifier(task.labels)
    with pytest.raises(ValueError, match="no language adapters"):
        set_language(model, "en")
    add_language_adapters(model, ["en", "fr"], 4)
    with pytest.raises(ValueError, match="already has language adapters"):
        add_language_adapters(model, ["en"], 4)
    with pytest.raises(ValueError, match="no adapter for 'sw'"):
        set_language(model, "sw")
    with pytest.raises(ValueError, match="nothing left to train"):
        train_only(model)
    other = add_language_adapters(tiny_source.classifier(task.labels), ["en", "fr"], 8)
    with pytest.raises(ValueError, match="shapes differ"):
        load_language_adapters(other, language_adapter_weights(model))
    with pytest.raises(ValueError, match="no place"):
        load_language_adapters(add_language_adapters(tiny_source.classifier(task.labels), ["en"], 4),
                               language_adapter_weights(model))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        LanguageAdapterConfig(steps=0, warmup_steps=0)


def test_language_adapters_train_only_their_own_weights(tiny_mlm, trained_adapters, tiny_source):
    adapters, histories = trained_adapters
    assert list(histories) == list(LANGUAGES) and all(len(h.losses) == 6 for h in histories.values())
    base = tiny_mlm.state_dict()
    for name, value in adapters.state_dict().items():  # the encoder and the MLM head are untouched
        plain = name.replace(".projection.", ".") if ".projection." in name else name
        if ".languages." not in name and ".task." not in name:
            torch.testing.assert_close(value, base[plain])
    weights = language_adapter_weights(adapters)
    assert {name.split(".languages.")[1].split(".")[0] for name in weights} == set(LANGUAGES)
    ups = [v for n, v in weights.items() if n.endswith("up.weight")]
    assert all(v.abs().sum() > 0 for v in ups)  # each adapter has moved from its zero start
    with pytest.raises(ValueError, match="no language id"):
        train_language_adapters(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, {"sw": ["jambo"]})
    with pytest.raises(ValueError, match="empty"):
        train_language_adapters(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, {"fr": []})


def test_the_three_steps_end_to_end(tiny_source, task, trained_adapters):
    adapters, _ = trained_adapters
    prepare = madx_prepare(adapters, task_bottleneck=2)
    model = prepare(tiny_source.classifier(task.labels))
    own = language_adapter_weights(model)
    for name, value in language_adapter_weights(adapters).items():  # step 2 starts from step 1's adapters
        torch.testing.assert_close(own[name], value)
    config = FineTuneConfig(steps=4, batch_size=8, warmup_steps=0, eval_every=None)
    table = madx_table(tiny_source, task, adapters, config, task_bottleneck=2, seeds=(0,))
    assert set(table["encoder"]) == {"MAD-X", "MAD-X, source adapter kept"}
    assert set(table["lang"]) == set(LANGUAGES) and table["accuracy"].between(0, 1).all()
    swapped = table[table["encoder"] == "MAD-X"].set_index("lang")["accuracy"]
    kept = table[table["encoder"] != "MAD-X"].set_index("lang")["accuracy"]
    assert swapped["en"] == kept["en"]  # English uses the English adapter either way
    scores = evaluate_swapping(model, tiny_source, task, "dev")
    assert list(scores.index) == list(LANGUAGES)
    with pytest.raises(ValueError, match="source language 'es'"):
        madx_prepare(adapters, source_lang="es")


def test_masked_lm_accuracy_is_a_share(tiny_mlm, tiny_source, task):
    texts = list(task.frame("dev", ["fr"])["text"][:20])
    value = masked_lm_accuracy(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, texts, "fr", draws=2)
    assert 0.0 <= value <= 1.0
    with pytest.raises(ValueError, match="draws must be a positive int"):
        masked_lm_accuracy(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, texts, "fr", draws=0)
    with pytest.raises(ValueError, match="texts is empty"):
        masked_lm_accuracy(tiny_mlm, tiny_source.tokenizer, tiny_source.language_ids, [], "fr")
