"""LoRA and bottleneck adapters from scratch (chapter 8), against their definitions and against peft."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, TaskType, get_peft_model
from torch import nn

from xlm_course.deployment.adapters import (
    BottleneckAdapter,
    LoRALinear,
    add_adapters,
    add_lora,
    add_prefix,
    freeze_except,
    merge_lora,
)
from xlm_course.models import count_parameters
from xlm_course.training import TrainingConfig, train
from xlm_course.transfer import FineTuneConfig, emoji_category_task, finetune

LABELS = ("a", "b", "c")


def _inputs(source, count=4):
    return source.encode(["red heart", "dog face", "pizza", "flag: Japan"][:count], ["en"] * count, 16)


@settings(deadline=None, max_examples=30)
@given(st.integers(2, 12), st.integers(2, 12), st.integers(1, 2), st.floats(0.5, 32), st.integers(0, 10**6))
def test_lora_starts_at_the_base_and_merges_exactly(d_in, d_out, rank, alpha, seed):
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    lora = LoRALinear(base, rank=rank, alpha=alpha)
    x = torch.randn(5, d_in)
    torch.testing.assert_close(lora(x), base(x))
    nn.init.normal_(lora.lora_B.weight)
    expected = base(x) + (alpha / rank) * x @ lora.lora_A.weight.T @ lora.lora_B.weight.T
    torch.testing.assert_close(lora(x), expected)
    torch.testing.assert_close(lora.merged()(x), lora(x), rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in lora.parameters() if p.requires_grad) == rank * (d_in + d_out)


def _bert_classifier():
    from transformers import BertConfig, BertForSequenceClassification
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(config)  # e5-small's shape: bert.pooler.dense, then classifier


def test_train_also_reaches_a_module_anywhere_in_the_path():
    # 8.1's e5-small + LoRA: "pooler" must train bert.pooler.dense.* (matching the name's start left it frozen)
    model = add_lora(_bert_classifier(), train_also=("classifier", "pooler"))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"} <= trainable
    assert all("lora_" in name or "pooler" in name or name.startswith("classifier.") for name in trainable)
    assert not any(name.startswith("bert.embeddings") for name in trainable)


def test_train_also_matches_whole_parts_only_and_names_what_exists():
    model = _bert_classifier()
    with pytest.raises(ValueError, match=r"names no parameter.*\['pool'\].*bert\.pooler\.dense"):
        freeze_except(model, ("classifier", "pool"))  # a part of a name is not a module
    with pytest.raises(TypeError, match="sequence of module names"):
        freeze_except(model, "pooler")
    for bad in (("",), ("bert..pooler",), (3,)):
        with pytest.raises(ValueError, match="dotted module names"):
            freeze_except(model, bad)
    freeze_except(model, ("bert.pooler",))  # several parts, consecutive
    assert model.bert.pooler.dense.weight.requires_grad and not model.classifier.weight.requires_grad


def test_lora_and_adapter_reject_bad_sizes():
    with pytest.raises(ValueError, match="rank must be an int"):
        LoRALinear(nn.Linear(4, 4), rank=5)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        LoRALinear(nn.Linear(4, 4), rank=2, alpha=0)
    with pytest.raises(ValueError, match="bottleneck must be a positive int"):
        BottleneckAdapter(nn.Linear(4, 4), bottleneck=0)


def test_add_lora_wraps_query_and_value_and_freezes_the_rest(tiny_source):
    plain = tiny_source.classifier(LABELS, seed=0).eval()
    model = add_lora(tiny_source.classifier(LABELS, seed=0), rank=2, alpha=4).eval()
    wrapped = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    assert wrapped == ["roberta.encoder.layer.0.attention.self.query", "roberta.encoder.layer.0.attention.self.value"]
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in name or name.startswith("classifier.") for name in trainable)
    with torch.no_grad():
        torch.testing.assert_close(model(**_inputs(tiny_source)).logits, plain(**_inputs(tiny_source)).logits)
    hidden = tiny_source.config.hidden_size
    head = sum(p.numel() for p in model.classifier.parameters())
    assert count_parameters(model)[0] == 2 * 2 * (hidden + hidden) + head
    merged = merge_lora(model)
    assert not any(isinstance(module, LoRALinear) for module in merged.modules())
    with pytest.raises(ValueError, match="no nn.Linear named like"):
        add_lora(tiny_source.classifier(LABELS), target_modules=("nonexistent",))


def test_adapters_start_at_the_identity_and_sit_after_both_sub_layers(tiny_source):
    plain = tiny_source.classifier(LABELS, seed=0).eval()
    model = add_adapters(tiny_source.classifier(LABELS, seed=0), bottleneck=4).eval()
    layer = model.roberta.encoder.layer[0]
    assert isinstance(layer.attention.output.dense, BottleneckAdapter)
    assert isinstance(layer.output.dense, BottleneckAdapter)
    with torch.no_grad():
        torch.testing.assert_close(model(**_inputs(tiny_source)).logits, plain(**_inputs(tiny_source)).logits)
    hidden = tiny_source.config.hidden_size
    per_adapter = hidden * 4 + 4 + 4 * hidden + hidden
    head = sum(p.numel() for p in model.classifier.parameters())
    assert count_parameters(model)[0] == 2 * per_adapter + head


def test_course_lora_computes_what_peft_lora_computes(tiny_source):
    ours = add_lora(tiny_source.classifier(LABELS, seed=0), rank=2, alpha=4).eval()
    theirs = get_peft_model(tiny_source.classifier(LABELS, seed=0),
                            LoraConfig(task_type=TaskType.SEQ_CLS, r=2, lora_alpha=4, lora_dropout=0.0,
                                       target_modules=["query", "value"])).eval()
    with torch.no_grad():
        for name, module in theirs.named_modules():
            if isinstance(module, nn.Module) and hasattr(module, "lora_B") and name.endswith(("query", "value")):
                module.lora_B["default"].weight.normal_()
                mine = ours.get_submodule(name.removeprefix("base_model.model."))
                mine.lora_A.weight.copy_(module.lora_A["default"].weight)
                mine.lora_B.weight.copy_(module.lora_B["default"].weight)
        difference = (ours(**_inputs(tiny_source)).logits - theirs(**_inputs(tiny_source)).logits).abs().max()
    assert difference < 1e-6


def test_count_parameters_counts_tied_weights_once():
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight
    model = nn.ModuleDict({"embedding": embedding, "head": head})
    assert count_parameters(model) == (40, 40)


def test_finetuning_with_lora_leaves_the_encoder_untouched(tiny_source):
    task = emoji_category_task(("en", "fr"))
    tuned = finetune(tiny_source, task, task.rows("train", ["en"]),
                     FineTuneConfig(steps=3, batch_size=8, warmup_steps=1, eval_every=None, learning_rate=1e-2),
                     prepare=lambda model: add_lora(model, rank=2, alpha=4))
    state = tuned.model.state_dict()
    for key, value in tiny_source.weights.items():
        if "query" in key or "value" in key:
            key = key.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        assert torch.equal(state[f"roberta.{key}"], value), key
    assert not torch.equal(tuned.model.roberta.encoder.layer[0].attention.self.query.lora_B.weight,
                           torch.zeros_like(tuned.model.roberta.encoder.layer[0].attention.self.query.lora_B.weight))


def test_train_calls_after_step_once_per_step():
    calls = []
    model = nn.Linear(2, 1)
    train(model, lambda m, b: {"loss": m(b["x"]).pow(2).mean()}, lambda step: {"x": torch.ones(3, 2)},
          TrainingConfig(steps=4, warmup_steps=0, progress=False), after_step=calls.append)
    assert calls == [0, 1, 2, 3]


def test_prefix_attention_is_softmax_over_prefix_and_tokens(tiny_source):
    model = add_prefix(tiny_source.classifier(LABELS, seed=0), prefix_length=3).eval()
    layer = model.roberta.encoder.layer[0].attention.self
    attention = layer.attention
    hidden = torch.randn(2, 5, tiny_source.config.hidden_size)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False  # the second sequence has two padding positions
    with torch.no_grad():
        output, _ = layer(hidden, attention_mask=mask[:, None, None, :].expand(2, 1, 5, 5))

        def heads(x):
            return x.view(x.shape[0], x.shape[1], -1, attention.attention_head_size).transpose(1, 2)

        q = heads(attention.query(hidden))
        k = torch.cat([heads(layer.prefix_keys.expand(2, -1, -1)), heads(attention.key(hidden))], dim=2)
        v = torch.cat([heads(layer.prefix_values.expand(2, -1, -1)), heads(attention.value(hidden))], dim=2)
        scores = q @ k.transpose(-1, -2) * attention.scaling
        allowed = torch.cat([torch.ones(2, 3, dtype=torch.bool), mask], dim=1)[:, None, None, :]
        expected = (scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v).transpose(1, 2).reshape(2, 5, -1)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert {name for name in trainable if not name.startswith("classifier.")} == {
        "roberta.encoder.layer.0.attention.self.prefix_keys", "roberta.encoder.layer.0.attention.self.prefix_values"}
    with torch.no_grad():
        assert model(**_inputs(tiny_source)).logits.shape == (4, 3)
    with pytest.raises(ValueError, match="prefix_length must be a positive int"):
        add_prefix(tiny_source.classifier(LABELS), prefix_length=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_merged_lora_keeps_the_base_layers_dtype_and_device(dtype):
    # Bug: merged() built a float32 CPU layer whatever the base was, so merge_lora broke fp64, bf16 and GPU models.
    torch.manual_seed(0)
    lora = LoRALinear(nn.Linear(6, 4).to(dtype), rank=2)
    nn.init.normal_(lora.lora_B.weight)
    lora.lora_A.to(dtype), lora.lora_B.to(dtype)
    merged = lora.merged()
    assert merged.weight.dtype == dtype and merged.weight.device == lora.base.weight.device
    x = torch.randn(3, 6, dtype=dtype)
    tolerance = {torch.float64: 1e-10, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(merged(x), lora(x), atol=tolerance, rtol=tolerance)
    model = nn.Sequential(lora)
    assert merge_lora(model)[0].weight.dtype == dtype


def test_freeze_except_finds_adapters_by_type_not_by_a_module_named_up():
    """The old rule trained any parameter whose dotted name had a part "up" or "down": an encoder module so
    named was silently unfrozen. Adapters are found by their module type now."""
    model = nn.Sequential()
    model.add_module("up", nn.Linear(4, 4))  # an ordinary layer that happens to be called "up"
    model.add_module("classifier", nn.Linear(4, 2))
    model.add_module("adapter", BottleneckAdapter(nn.Linear(4, 4), bottleneck=2))
    freeze_except(model, ("classifier",))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias", "adapter.adapter.down.weight",
                         "adapter.adapter.down.bias", "adapter.adapter.up.weight", "adapter.adapter.up.bias"}
