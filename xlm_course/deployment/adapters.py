"""Parameter-efficient fine-tuning written out: LoRA and bottleneck adapters around a frozen encoder (chapter 8).

* **LoRA** {cite}`hu2022lora`: a frozen weight W gets a trainable low-rank update, y = W x + b + (α/r)·B A x,
  with A (r × in) random and B (out × r) zero, so training starts exactly at the pretrained function and adds
  r·(in + out) parameters per matrix. After training, B A can be merged into W: no extra inference cost.
* **Bottleneck adapters** {cite}`houlsby2019parameter`: after the output projection of each attention and
  feed-forward sub-layer, h ← h + U·gelu(D·h) with D (m × H), U (H × m) and U = 0 at the start, before the
  residual connection and LayerNorm.
* **Prefix tuning** {cite}`li2021prefix`: every self-attention layer gets P trainable key and value vectors
  that each token can attend to, as if P virtual tokens preceded the input in every layer. peft implements it
  through the past-key-values cache of decoders, which transformers 5 encoders no longer accept; here it is
  written directly into the attention computation.

Everything else is frozen except the modules named in ``train_also`` (the new classification head). The same
model can then be compared with peft's implementations (chapter 8 checks LoRA's outputs against peft's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.xlm_roberta.modeling_xlm_roberta import eager_attention_forward

from ..validation import check_positive_int, check_positive_number


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-``rank`` update scaled by ``alpha / rank``. Written out in
    chapter 8.1."""

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int("rank", rank, maximum=min(base.in_features, base.out_features))
        check_positive_number("alpha", alpha)
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
        weight = self.base.weight  # the merged layer lives where the base layer does, in its dtype
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            exact = torch.promote_types(weight.dtype, torch.float32)  # sum in fp32 at least, then round once
            update = self.lora_B.weight.to(exact) @ self.lora_A.weight.to(exact)
            merged.weight.copy_((weight.to(exact) + self.scaling * update).to(weight.dtype))
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged


class Bottleneck(nn.Module):
    """h ↦ h + U·gelu(D·h) with D (m × H) and U (H × m); U starts at zero, so at first it is the identity."""

    def __init__(self, hidden_size: int, bottleneck: int = 32) -> None:
        super().__init__()
        check_positive_int("bottleneck", bottleneck)
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))


class BottleneckAdapter(nn.Module):
    """A frozen projection followed by a trainable :class:`Bottleneck`. Written out in chapter 8.1."""

    def __init__(self, projection: nn.Linear, bottleneck: int = 32) -> None:
        super().__init__()
        self.projection = projection
        self.projection.requires_grad_(False)
        self.adapter = Bottleneck(projection.out_features, bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.projection(x))


class PrefixSelfAttention(nn.Module):
    """A frozen XLM-R self-attention whose keys and values are preceded by ``prefix_length`` trainable vectors."""

    def __init__(self, attention: nn.Module, prefix_length: int = 8) -> None:
        super().__init__()
        check_positive_int("prefix_length", prefix_length)
        self.attention = attention
        self.attention.requires_grad_(False)
        size = attention.all_head_size
        # drawn as the encoder's own weights are: N(0, initializer_range²), 0.02 in XLM-R and BERT
        std = attention.config.initializer_range
        self.prefix_keys = nn.Parameter(torch.randn(prefix_length, size) * std)
        self.prefix_values = nn.Parameter(torch.randn(prefix_length, size) * std)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, head size)
        return x.view(*x.shape[:2], -1, self.attention.attention_head_size).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention, batch = self.attention, hidden_states.shape[0]
        kwargs.pop("cache", None)
        kwargs.pop("past_key_values", None)
        query = self._heads(attention.query(hidden_states))
        prefix_keys = self._heads(self.prefix_keys.expand(batch, -1, -1))
        prefix_values = self._heads(self.prefix_values.expand(batch, -1, -1))
        key = torch.cat([prefix_keys, self._heads(attention.key(hidden_states))], dim=2)
        value = torch.cat([prefix_values, self._heads(attention.value(hidden_states))], dim=2)
        if attention_mask is not None:  # every token may attend to every prefix vector
            attend = True if attention_mask.dtype == torch.bool else 0.0
            attention_mask = nn.functional.pad(attention_mask, (self.prefix_keys.shape[0], 0), value=attend)
        interface = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation,
                                                          eager_attention_forward)
        output, weights = interface(attention, query, key, value, attention_mask,
                                    dropout=attention.dropout.p if self.training else 0.0,
                                    scaling=attention.scaling, **kwargs)
        return output.reshape(*hidden_states.shape[:2], -1).contiguous(), weights


def add_prefix(model: nn.Module, prefix_length: int = 8, train_also: Sequence[str] = ("classifier",)) -> nn.Module:
    """Give every self-attention layer ``prefix_length`` trainable key/value vectors; freeze the rest except
    ``train_also``."""
    for layer in encoder_layers(model):
        layer.attention.self = PrefixSelfAttention(layer.attention.self, prefix_length)
    freeze_except(model, train_also)
    return model


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
    """Freeze every parameter but the adapters' (LoRA, bottleneck, prefix) and those under ``train_also``.

    An entry of ``train_also`` names a module by one or more whole parts of its dotted path, anywhere in it:
    ``"pooler"`` trains ``bert.pooler.dense.*``, ``"classifier"`` trains ``classifier.*``. (Matching by the name's
    beginning left BERT's pooler, ``bert.pooler``, frozen at its random initialisation: chapter 8.1.) An entry
    that names no parameter is an error listing the modules there are, never a silent no-op.
    """
    if isinstance(train_also, str):
        raise TypeError(f"train_also must be a sequence of module names, got the string {train_also!r}: "
                        f"write ({train_also!r},)")
    bad = [entry for entry in train_also if not isinstance(entry, str) or not all(entry.split("."))]
    if bad:
        raise ValueError(f"train_also entries must be dotted module names such as 'pooler' or 'bert.pooler', "
                         f"got {bad!r}")
    wanted = {entry: tuple(entry.split(".")) for entry in train_also}
    matched, adapters = set(), adapter_parameters(model)
    for name, parameter in model.named_parameters():
        parts = tuple(name.split("."))
        own = id(parameter) in adapters
        hits = {entry for entry, run in wanted.items() if _contains_run(parts[:-1], run)}
        matched |= hits
        parameter.requires_grad_(own or bool(hits))
    missing = [entry for entry in train_also if entry not in matched]
    if missing:
        modules = sorted({".".join(part for part in name.split(".")[:-1] if not part.isdigit())
                          for name, _ in model.named_parameters()})
        raise ValueError(f"train_also names no parameter of this model: {missing}. An entry is one or more whole "
                         f"parts of a module's dotted name; the modules with parameters are: {modules}")


def adapter_parameters(model: nn.Module) -> set[int]:
    """The ids of the adapters' own parameters, found by module type, never by name (a module of the encoder
    that happened to be called ``up`` would otherwise be trained): a :class:`LoRALinear`'s A and B, every
    :class:`Bottleneck`'s D and U, a :class:`PrefixSelfAttention`'s prefix vectors; never their frozen base."""
    found: set[int] = set()
    for module in model.modules():
        if isinstance(module, LoRALinear):
            found |= {id(module.lora_A.weight), id(module.lora_B.weight)}
        elif isinstance(module, Bottleneck):
            found |= {id(parameter) for parameter in module.parameters()}
        elif isinstance(module, PrefixSelfAttention):
            found |= {id(module.prefix_keys), id(module.prefix_values)}
    return found


def _contains_run(parts: tuple[str, ...], run: tuple[str, ...]) -> bool:
    """Whether ``run`` occurs as consecutive elements of ``parts``."""
    return any(parts[start:start + len(run)] == run for start in range(len(parts) - len(run) + 1))


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
    for layer in encoder_layers(model):
        layer.output.dense = BottleneckAdapter(layer.output.dense, bottleneck)
    freeze_except(model, train_also)
    return model


def encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer layers of an XLM-R style model (any head)."""
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
