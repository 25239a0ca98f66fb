"""Numerical checks of derivations (chapter 4): central finite differences."""

from __future__ import annotations

from collections.abc import Callable

import torch


def numerical_gradient(function: Callable[[torch.Tensor], torch.Tensor], point: torch.Tensor,
                       eps: float = 1e-6) -> torch.Tensor:
    """∂f/∂x by central differences, (f(x + εe_i) − f(x − εe_i)) / 2ε for each entry i; error O(ε²).

    ``function`` maps a tensor shaped like ``point`` to a scalar. Use float64: in float32 the rounding error
    of f, about 1e-7 / ε, swamps the result.
    """
    if point.dtype != torch.float64:
        raise TypeError(f"use a float64 point for finite differences, got {point.dtype}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
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
