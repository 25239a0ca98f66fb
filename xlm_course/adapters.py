"""Parameter-efficient fine-tuning written out: LoRA and bottleneck adapters around a frozen encoder (chapter 8).

* **LoRA** {cite}`hu2022lora`: a frozen weight W gets a trainable low-rank update, y = W x + b + (α/r)·B A x,
  with A (r × in) random and B (out × r) zero, so training starts exactly at the pretrained function and adds
  r·(in + out) parameters per matrix. After training, B A can be merged into W: no extra inference cost.
* **Bottleneck adapters** {cite}`houlsby2019parameter`: after the output projection of each attention and
  feed-forward sub-layer, h ← h + U·gelu(D·h) with D (m × H), U (H × m) and U = 0 at the start, before the
  residual connection and LayerNorm.

Everything else is frozen except the modules named in ``train_also`` (the new classification head). The same
model can then be compared with peft's implementations (chapter 8 checks LoRA's outputs against peft's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-``rank`` update scaled by ``alpha / rank``."""

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(base.in_features,
                                                                                        base.out_features):
            raise ValueError(f"rank must be an int in [1, {min(base.in_features, base.out_features)}], got {rank!r}")
        if not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        self.base, self.rank, self.scaling = base, rank, alpha / rank
        self.base.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # as nn.Linear, and as peft
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with W + (α/r)·B A: the same function, no extra cost at inference."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B.weight @ self.lora_A.weight)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged


class BottleneckAdapter(nn.Module):
    """h + U·gelu(D·h), applied to the output of the wrapped projection (U starts at zero)."""

    def __init__(self, projection: nn.Linear, bottleneck: int = 32) -> None:
        super().__init__()
        if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or bottleneck < 1:
            raise ValueError(f"bottleneck must be a positive int, got {bottleneck!r}")
        self.projection = projection
        self.projection.requires_grad_(False)
        self.down = nn.Linear(projection.out_features, bottleneck)
        self.up = nn.Linear(bottleneck, projection.out_features)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.projection(x)
        return h + self.up(nn.functional.gelu(self.down(h)))


def _replace(model: nn.Module, suffixes: Sequence[str], wrap) -> list[str]:
    replaced = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and any(name == s or name.endswith("." + s) for s in suffixes):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, wrap(module))
            replaced.append(name)
    if not replaced:
        raise ValueError(f"no nn.Linear named like {list(suffixes)} in the model")
    return replaced


def freeze_except(model: nn.Module, train_also: Sequence[str] = ("classifier",)) -> None:
    """Freeze every parameter but the adapters' (LoRA, bottleneck) and those under modules in ``train_also``."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(part in name.split(".") for part in ("lora_A", "lora_B", "down", "up"))
                                 or any(name.startswith(prefix + ".") for prefix in train_also))


def add_lora(model: nn.Module, target_modules: Sequence[str] = ("query", "value"), rank: int = 8,
             alpha: float = 16.0, dropout: float = 0.0, train_also: Sequence[str] = ("classifier",)) -> nn.Module:
    """Wrap each ``nn.Linear`` whose name ends in one of ``target_modules`` with :class:`LoRALinear`; freeze
    the rest except ``train_also``. Returns the same model, changed in place."""
    _replace(model, target_modules, lambda linear: LoRALinear(linear, rank, alpha, dropout))
    freeze_except(model, train_also)
    return model


def add_adapters(model: nn.Module, bottleneck: int = 32, train_also: Sequence[str] = ("classifier",)) -> nn.Module:
    """Put a :class:`BottleneckAdapter` after every attention-output and feed-forward-output projection
    (``attention.output.dense`` and ``output.dense`` in XLM-R layers); freeze the rest except ``train_also``."""
    _replace(model, ("attention.output.dense",), lambda linear: BottleneckAdapter(linear, bottleneck))
    for layer in _layers(model):
        layer.output.dense = BottleneckAdapter(layer.output.dense, bottleneck)
    freeze_except(model, train_also)
    return model


def _layers(model: nn.Module) -> list[nn.Module]:
    layers = [module for name, module in model.named_modules() if name.endswith("encoder.layer")]
    if len(layers) != 1:
        raise ValueError("expected one XLM-R style encoder with an 'encoder.layer' list")
    return list(layers[0])


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by its merged ``nn.Linear`` (in place)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.merged())
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, counting a shared tensor once."""
    seen, trainable, total = set(), 0, 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total
