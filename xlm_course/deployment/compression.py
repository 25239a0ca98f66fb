"""Smaller and faster models after training: int8 quantisation, pruning, ONNX export (chapter 8.3).

* **Dynamic int8 quantisation** stores each weight matrix in 8 bits with a scale, and quantises activations on
  the fly: about 4× smaller weights, integer matrix products. Two implementations: torch's
  (``torch.ao.quantization.quantize_dynamic``, deprecated in favour of torchao but still shipped) and
  onnxruntime's, applied to an exported ONNX graph.
* **ONNX export** writes the model as a framework-neutral graph (torch's ``torch.export``-based exporter);
  :class:`OnnxClassifier` runs it with onnxruntime behind the same call as a transformers model, so the same
  evaluation code measures every variant.
* **Pruning**: *magnitude* pruning (``torch.nn.utils.prune``) zeroes the smallest weights anywhere in the
  encoder's linear layers, which saves nothing without sparse kernels; *structured* pruning removes whole
  feed-forward neurons, so both feed-forward matrices of every layer get smaller and dense kernels run faster.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune
from transformers import PreTrainedModel

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


def size_in_bytes(model: nn.Module | str | Path) -> int:
    """On-disk size: a saved state dict for a torch model, the file for an ONNX path."""
    if isinstance(model, (str, Path)):
        return Path(model).stat().st_size
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def cpu_copy(model: nn.Module) -> nn.Module:
    """An fp32 copy of ``model`` on the CPU, in eval mode: what int8 kernels, ONNX export and onnxruntime start
    from, wherever the model was trained. The original stays where it is."""
    return copy.deepcopy(model).to("cpu", torch.float32).eval()


def torch_dynamic_int8(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` whose ``nn.Linear`` layers run in dynamic int8 (torch's int8 kernels are CPU-only:
    evaluate it with ``device="cpu", precision="fp32"``)."""
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao; it still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(cpu_copy(model), {nn.Linear}, dtype=torch.qint8)


def export_onnx(model: PreTrainedModel, sample: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Export a classifier to ONNX with a dynamic batch and sequence length; weights inside the one file.

    The exporter annotates every node with the Python stack that created it, absolute paths included; they are
    stripped (:func:`strip_onnx_metadata`), so the file holds the graph and the weights, and its size is the same
    wherever the course was cloned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [name for name in INPUT_NAMES if name in sample]
    dynamic = {name: {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for name in names}
    import logging

    for name in ("torch.onnx", "onnx_ir", "onnxscript"):  # "torchvision is not installed", optimiser passes
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(cpu_copy(model), (), str(path), kwargs={name: sample[name].cpu() for name in names},
                          input_names=names, output_names=["logits"], dynamic_shapes=dynamic, dynamo=True,
                          external_data=False, verbose=False)
    strip_onnx_metadata(path)
    return path


def strip_onnx_metadata(path: str | Path) -> int:
    """Remove the debugging annotations (node ``metadata_props`` and doc strings) from an ONNX file in place;
    return how many were removed. They do not change what the graph computes."""
    import onnx

    model = onnx.load(str(path))
    removed = 0

    def clean(graph: onnx.GraphProto) -> None:
        nonlocal removed
        graph.doc_string = ""
        for node in graph.node:
            removed += len(node.metadata_props) + bool(node.doc_string)
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    clean(attribute.g)
                for subgraph in attribute.graphs:
                    clean(subgraph)

    clean(model.graph)
    for function in model.functions:
        for node in function.node:
            removed += len(node.metadata_props) + bool(node.doc_string)
            del node.metadata_props[:]
            node.doc_string = ""
    onnx.save(model, str(path))
    return removed


def quantize_onnx(path: str | Path, output: str | Path) -> Path:
    """onnxruntime's dynamic int8 quantisation of an ONNX file (weights of MatMul and Gather in int8)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs every tensor it skips, and suggests pre-processing
    try:
        quantize_dynamic(str(path), str(output), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(output)


@dataclass
class _Output:
    logits: torch.Tensor


class OnnxClassifier:
    """An ONNX classifier run by onnxruntime, called like a transformers model: ``model(**inputs).logits``."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # onnxruntime's threads spin after each run by default, taking the cores from whatever runs next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def eval(self) -> OnnxClassifier:
        return self

    def to(self, *args: object, **kwargs: object) -> OnnxClassifier:
        """onnxruntime runs on the CPU here, whatever device the caller names (the logits come back there)."""
        return self

    def __call__(self, **inputs: torch.Tensor) -> _Output:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError(f"the ONNX graph needs inputs {self.input_names}; missing {missing}")
        feed = {name: inputs[name].cpu().numpy().astype(np.int64) for name in self.input_names}
        return _Output(torch.from_numpy(self.session.run(["logits"], feed)[0]))


def _encoder_linears(model: nn.Module) -> list[tuple[nn.Linear, str]]:
    return [(module, "weight") for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and ".encoder.layer." in f".{name}"]


def magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """A copy with the ``amount`` smallest-magnitude weights of all encoder linear layers set to zero (global)."""
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"amount must lie in [0, 1), got {amount!r}")
    pruned = copy.deepcopy(model)
    if amount > 0:
        targets = _encoder_linears(pruned)
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
        for module, name in targets:
            prune.remove(module, name)
    return pruned


def structured_prune(model: nn.Module, amount: float) -> nn.Module:
    """A copy with the ``amount`` share of feed-forward neurons removed from every layer (chapter 8.3).

    Neuron ``j`` of a layer is row ``j`` of ``intermediate.dense`` (with its bias) and column ``j`` of the
    ``output.dense`` that follows: FFN(h) = W₂ GELU(W₁h + b₁) + b₂. The neurons with the smallest row norm ‖W₁[j]‖₂
    go, and both matrices are rebuilt without them — smaller dense matrices, so the saving needs no sparse
    kernels. ``config.intermediate_size`` follows, so the copy saves and loads with ``from_pretrained``.
    """
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"amount must lie in [0, 1), got {amount!r}")
    pruned = copy.deepcopy(model)
    blocks = [(name, module) for name, module in pruned.named_modules()
              if isinstance(getattr(module, "intermediate", None), nn.Module)
              and isinstance(getattr(module.intermediate, "dense", None), nn.Linear)
              and isinstance(getattr(getattr(module, "output", None), "dense", None), nn.Linear)]
    if not blocks:
        raise ValueError("no feed-forward blocks ('intermediate.dense' followed by 'output.dense', as in BERT and "
                         "XLM-R layers) in the model")
    kept_sizes = set()
    for _, block in blocks:
        first, second = block.intermediate.dense, block.output.dense
        keep = max(1, round(first.out_features * (1.0 - amount)))
        rows = first.weight.detach().norm(dim=1).topk(keep).indices.sort().values  # keep the neurons' order
        block.intermediate.dense = _linear_from(first, first.weight[rows], first.bias[rows] if first.bias is not None else None)
        block.output.dense = _linear_from(second, second.weight[:, rows], second.bias)
        kept_sizes.add(keep)
    if hasattr(pruned, "config") and len(kept_sizes) == 1:
        pruned.config.intermediate_size = kept_sizes.pop()
    return pruned


def _linear_from(template: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """An ``nn.Linear`` holding ``weight`` (out × in) and ``bias``, on the template's device and dtype."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device,
                      dtype=template.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def encoder_weights(model: nn.Module, layers: Sequence[str] = (".encoder.layer.",)) -> tuple[int, int]:
    """(non-zero, total) weights of the linear layers whose names contain one of ``layers``."""
    nonzero = total = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and any(part in f".{name}" for part in layers):
            nonzero += int((module.weight != 0).sum())
            total += module.weight.numel()
    return nonzero, total


def share_removed(pruned: nn.Module, original: nn.Module) -> float:
    """Share of the original's encoder linear weights that the pruned model no longer has or holds at zero:
    zeroed weights (magnitude pruning) and removed ones (structured pruning) count alike."""
    left, _ = encoder_weights(pruned)
    _, before = encoder_weights(original)
    if before == 0:
        raise ValueError("the original model has no encoder linear layers ('.encoder.layer.' in their names)")
    return 1.0 - left / before


def sparsity(model: nn.Module, layers: Sequence[str] = (".encoder.layer.",)) -> float:
    """Share of exactly-zero weights in the linear layers whose names contain one of ``layers``."""
    nonzero, total = encoder_weights(model, layers)
    return 1.0 - nonzero / total if total else 0.0
