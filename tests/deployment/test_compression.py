"""Quantisation, ONNX export and pruning (chapter 8.3)."""

import copy
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xlm_course.deployment.compression import (
    OnnxClassifier,
    export_onnx,
    magnitude_prune,
    quantize_onnx,
    share_removed,
    size_in_bytes,
    sparsity,
    structured_prune,
    torch_dynamic_int8,
)

LABELS = ("a", "b", "c")


@pytest.fixture(scope="module")
def classifier(tiny_source):
    return tiny_source.classifier(LABELS, seed=0).eval()


@pytest.fixture(scope="module")
def inputs(tiny_source):
    return tiny_source.encode(["red heart", "dog face", "pizza", "旗: 日本"], ["en", "en", "fr", "ja"], 16)


def test_onnx_export_matches_pytorch_and_int8_is_smaller(classifier, inputs, tiny_source, tmp_path):
    path = export_onnx(classifier, inputs, tmp_path / "model.onnx")
    onnx_model = OnnxClassifier(path)
    with torch.no_grad():
        reference = classifier(**inputs).logits
    assert (onnx_model(**inputs).logits - reference).abs().max() < 1e-5
    other = tiny_source.encode(["a much longer name than before", "x"], ["en", "de"], 16)  # dynamic shapes
    with torch.no_grad():
        assert (onnx_model(**other).logits - classifier(**other).logits).abs().max() < 1e-5
    quantized = quantize_onnx(path, tmp_path / "model-int8.onnx")
    assert size_in_bytes(quantized) < size_in_bytes(path)  # (graph overhead dominates a model this tiny)
    assert (OnnxClassifier(quantized)(**inputs).logits - reference).abs().max() < 0.5
    with pytest.raises(ValueError, match="missing"):
        onnx_model(input_ids=inputs["input_ids"])


def test_torch_int8_keeps_the_original_and_stays_close(classifier, inputs):
    quantized = torch_dynamic_int8(classifier)
    assert isinstance(classifier.classifier.dense, nn.Linear)  # the original is untouched
    with torch.no_grad():
        assert (quantized(**inputs).logits - classifier(**inputs).logits).abs().max() < 0.5
    assert size_in_bytes(quantized) < size_in_bytes(classifier)


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.7])
def test_magnitude_pruning_reaches_the_requested_sparsity(classifier, amount):
    pruned = magnitude_prune(classifier, amount)
    assert sparsity(pruned) == pytest.approx(amount, abs=0.01)
    assert sparsity(classifier) < 0.01  # a copy: the original keeps its weights
    assert not any("weight_orig" in name for name, _ in pruned.named_parameters())  # made permanent


def _zeroed_like_structured(model, amount):
    """The reference: the same neurons (smallest ‖W₁[j]‖₂) kept in place but zeroed, row and bias."""
    zeroed = copy.deepcopy(model)
    for name, module in zeroed.named_modules():
        if name.endswith("intermediate.dense"):
            keep = max(1, round(module.out_features * (1 - amount)))
            drop = module.weight.norm(dim=1).argsort(descending=True)[keep:]
            with torch.no_grad():
                module.weight[drop] = 0.0
                module.bias[drop] = 0.0
    return zeroed


@settings(max_examples=8, deadline=None)
@given(amount=st.floats(0.0, 0.95))
def test_structured_pruning_removes_neurons_and_computes_what_zeroing_them_would(classifier, inputs, amount):
    """GELU(0) = 0, so a neuron with a zero row and bias adds nothing: removing it must not change a logit."""
    pruned = structured_prune(classifier, amount)
    size = classifier.config.intermediate_size
    keep = max(1, round(size * (1 - amount)))
    layers = [layer for layer in pruned.roberta.encoder.layer]
    assert all(layer.intermediate.dense.out_features == keep == layer.output.dense.in_features for layer in layers)
    assert pruned.config.intermediate_size == keep and classifier.config.intermediate_size == size  # a copy
    with torch.no_grad():
        expected = _zeroed_like_structured(classifier, amount)(**inputs).logits
        assert (pruned(**inputs).logits - expected).abs().max() < 1e-5


def test_structured_pruning_shrinks_the_matrices_and_saves(classifier, inputs, tmp_path):
    pruned = structured_prune(classifier, 0.5)
    hidden, size = classifier.config.hidden_size, classifier.config.intermediate_size
    # per layer: four h × h attention matrices stay, the two h × 4h feed-forward matrices lose half their neurons
    assert share_removed(pruned, classifier) == pytest.approx(size * hidden / (4 * hidden * hidden + 2 * size * hidden))
    assert sparsity(pruned) == 0.0  # nothing zeroed: the weights are gone
    assert share_removed(magnitude_prune(classifier, 0.3), classifier) == pytest.approx(0.3, abs=0.01)
    assert size_in_bytes(pruned) < size_in_bytes(classifier)
    pruned.save_pretrained(tmp_path)
    reloaded = type(classifier).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**inputs).logits, pruned(**inputs).logits, atol=1e-6)


def test_pruning_rejects_bad_amounts(classifier):
    with pytest.raises(ValueError, match=r"amount must lie in \[0, 1\)"):
        magnitude_prune(classifier, 1.0)
    with pytest.raises(ValueError, match=r"amount must lie in \[0, 1\)"):
        structured_prune(classifier, -0.1)
    with pytest.raises(ValueError, match="no feed-forward blocks"):
        structured_prune(nn.Sequential(nn.Linear(2, 2)), 0.5)
    with pytest.raises(ValueError, match="no encoder linear layers"):
        share_removed(classifier, nn.Sequential(nn.Linear(2, 2)))


def test_the_onnx_file_holds_no_stack_traces_or_paths_of_this_checkout(classifier, inputs, tmp_path):
    # Bug: every node carried the exporter's Python stack, absolute paths included, so the fp32/int8 size ratio
    # depended on where the course was cloned (3.495× in one checkout, 3.51× in another).
    import onnx

    from xlm_course.deployment.compression import strip_onnx_metadata

    path = export_onnx(classifier, inputs, tmp_path / "model.onnx")
    graph = onnx.load(str(path)).graph
    assert not any(node.metadata_props or node.doc_string for node in graph.node)
    here = str(Path(__file__).resolve().parents[2]).encode()
    for written in (path, quantize_onnx(path, tmp_path / "model-int8.onnx")):
        assert here not in written.read_bytes() and b"stack_trace" not in written.read_bytes()
    assert strip_onnx_metadata(path) == 0  # nothing left to strip
    parameters = sum(p.numel() for p in classifier.parameters())
    assert size_in_bytes(path) < 4 * parameters + 200_000  # the weights plus a graph, nothing else
