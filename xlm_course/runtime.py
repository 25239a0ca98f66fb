"""Where and how the course's code runs: seeds, device, precision, threads, the profile, online/offline.

Every notebook starts with :func:`setup`, which seeds all generators, picks the device and the precision once
and prints :func:`banner`; every helper that trains or evaluates then runs where :func:`current_device` says,
under :func:`autocast` of :func:`current_precision`, unless it is given ``device=`` or ``precision=``. The
*profile* (``XLM_COURSE_PROFILE``) sets sizes only; the code path is the same:

* ``ci`` (default): tiny models, a few minutes on a 2-core CPU, no internet;
* ``colab``: larger tiny models (hidden 256, 4 layers), sized for about 5 minutes a notebook on a Colab T4;
* ``hub``: real pretrained checkpoints (``xlm-roberta-base``, ``intfloat/multilingual-e5-small``) from the
  Hugging Face Hub wherever a notebook uses a pretrained encoder; what the course trains from scratch keeps the
  ``ci`` sizes (no cell pretrains a base-size model) and shares ``ci``'s cached encoders.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .validation import check_positive_int

PROFILE_VARIABLE = "XLM_COURSE_PROFILE"
PRECISION_VARIABLE = "XLM_COURSE_PRECISION"  # fp32, bf16 or fp16: overrides the automatic choice
CONCURRENCY_VARIABLE = "XLM_COURSE_CONCURRENCY"  # how many course processes share the cores (make test: 2)
PRECISIONS = ("fp32", "bf16", "fp16")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """Sizes that change between profiles; everything else is shared (chapter 0, "profiles")."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    vocab_size: int
    max_seq_len: int
    batch_size: int
    train_steps: int
    prefers_gpu: bool
    uses_hub_checkpoints: bool  # pretrained encoders come from the hub (xlm-roberta-base, multilingual-e5-small)
    pretrains_as: str  # the profile whose encoders this one pretrains, and so shares in the cache


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", hidden_size=128, num_layers=2, num_heads=4, vocab_size=8000, max_seq_len=32,
                  batch_size=32, train_steps=1600, prefers_gpu=False, uses_hub_checkpoints=False, pretrains_as="ci"),
    # 1400 steps: 3.3 trains four encoders from a cold cache, about 5 minutes on a T4 by the counted FLOPs and
    # operators of the joint step (benchmarks/colab_budget.py; an estimate until make test-gpu runs on one)
    "colab": Profile("colab", hidden_size=256, num_layers=4, num_heads=4, vocab_size=16000, max_seq_len=64,
                     batch_size=64, train_steps=1400, prefers_gpu=True, uses_hub_checkpoints=False,
                     pretrains_as="colab"),
    # Pretraining a base-size model from scratch is days of GPU time, not a notebook: under ``hub`` the course's
    # own encoders keep the ci sizes (and ci's cache entries), and the real checkpoints stand beside them.
    "hub": Profile("hub", hidden_size=128, num_layers=2, num_heads=4, vocab_size=8000, max_seq_len=32,
                   batch_size=32, train_steps=1600, prefers_gpu=True, uses_hub_checkpoints=True, pretrains_as="ci"),
}
# The profiles whose "pretrained encoder" is the course's own; under the others a hub checkpoint stands in, and a
# claim about the course's encoder is skipped there (``claim(..., holds_for=COURSE_ENCODER_PROFILES)``).
COURSE_ENCODER_PROFILES = tuple(name for name, profile in PROFILES.items() if not profile.uses_hub_checkpoints)


def get_profile(name: str | None = None) -> Profile:
    """The profile named ``name``, or by ``$XLM_COURSE_PROFILE`` (default ``ci``).

    >>> get_profile("ci").hidden_size
    128
    """
    chosen = name if name is not None else os.environ.get(PROFILE_VARIABLE, "ci")
    key = chosen.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r} (from {'the argument' if name is not None else '$' + PROFILE_VARIABLE}). "
            f"Valid profiles: {', '.join(PROFILES)}."
        )
    return PROFILES[key]


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a ``torch.Generator`` seeded the same way.

    With ``deterministic=True`` PyTorch is asked for deterministic kernels (warn-only, since a few
    CUDA kernels have no deterministic version).
    """
    check_positive_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds code that still uses the global NumPy generator
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator().manual_seed(seed)
    return generator


def choose_device(prefer: str | None = None, profile: Profile | None = None) -> torch.device:
    """``cuda`` or ``mps`` when available and wanted, else ``cpu``.

    ``prefer`` may be ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None`` (let the profile decide).
    Asking for a device that is not there is an error rather than a silent fall-back.
    """
    accepted = ("cpu", "cuda", "mps")
    if isinstance(prefer, torch.device):
        prefer = prefer.type
    if prefer is not None and prefer not in accepted:
        raise ValueError(f"Unknown device {prefer!r}. Accepted: {', '.join(accepted)} or None.")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch.cuda.is_available() is False; use 'cpu'.")
    if prefer == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was requested but MPS is not available; use 'cpu'.")
    if prefer is not None:
        return torch.device(prefer)
    profile = profile or get_profile()
    if profile.prefers_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    if profile.prefers_gpu and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Does this CPU multiply bf16 matrices in hardware (AMX or AVX-512 BF16)? Then bf16 autocast pays
    (about 1.5× for the ci model, 2.5× at hidden 512: ``benchmarks/pretraining_throughput.py``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = set(cpuinfo.read_text(errors="ignore").split())
        return bool(flags & {"amx_bf16", "avx512_bf16"})
    return platform.system() == "Darwin" and platform.machine() == "arm64"  # Apple silicon has bf16 units


def choose_precision(device: torch.device | str, prefer: str | None = None) -> str:
    """The precision of training and evaluation on ``device``: ``bf16`` autocast where the device has bf16
    matrix units (CUDA with bf16, CPUs with AMX or AVX-512 BF16), ``fp16`` autocast with a gradient scaler on
    GPUs without bf16, else ``fp32``. ``prefer`` (or ``$XLM_COURSE_PRECISION``) overrides the choice; a
    precision the device cannot run is an error, not a silent fall-back."""
    device = torch.device(device)
    prefer = prefer if prefer is not None else os.environ.get(PRECISION_VARIABLE) or None
    if prefer is not None:
        if prefer not in PRECISIONS:
            raise ValueError(f"Unknown precision {prefer!r}. Accepted: {', '.join(PRECISIONS)} or None (automatic).")
        if prefer == "fp16" and device.type != "cuda":
            raise ValueError(f"fp16 autocast needs a CUDA device, not {device.type}; use 'bf16' or 'fp32'")
        if prefer == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"{torch.cuda.get_device_name(device)} has no bf16 units; use 'fp16' or 'fp32'")
        return prefer
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_bf16():
        return "bf16"
    return "fp32"


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``precision`` on ``device`` (a no-op context for ``fp32``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}. Accepted: {', '.join(PRECISIONS)}.")
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def concurrency() -> int:
    """How many course processes share this machine's cores: ``$XLM_COURSE_CONCURRENCY``, else pytest-xdist's
    worker count, else 1."""
    for name in (CONCURRENCY_VARIABLE, "PYTEST_XDIST_WORKER_COUNT"):
        value = os.environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"${name} must be a positive int, got {value!r}")
            return int(value)
    return 1


def available_cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(num_threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads; by default the cores divided among the :func:`concurrency` processes.

    Idle OpenMP threads spin and steal the cores of the other processes: on 2 cores, two processes with 2
    threads each did 0.39× the work of one alone, with 1 thread each 1.54× (``xlm_course/__init__.py`` also
    asks OpenMP to wait passively)."""
    if num_threads is None:
        num_threads = max(1, available_cores() // concurrency())
    check_positive_int("num_threads", num_threads)
    torch.set_num_threads(num_threads)
    return num_threads


def is_offline_forced() -> bool:
    """True when one of the Hugging Face offline variables is set to a true value."""
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"} for name in OFFLINE_VARIABLES)


def is_online(host: str = "huggingface.co", port: int = 443, timeout: float = 1.5) -> bool:
    """Can this process reach the Hugging Face Hub? False at once when offline mode is forced."""
    if is_offline_forced():
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _version_of(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def banner(profile: Profile | None = None, device: torch.device | None = None, precision: str | None = None) -> str:
    """One block of text for the top of a notebook: versions, device, precision, threads, profile, network."""
    profile = profile or get_profile()
    device = device or choose_device(profile=profile)
    precision = precision or choose_precision(device)
    packages = ("torch", "transformers", "tokenizers", "datasets", "xlm-course")
    lines = [
        f"profile   : {profile.name} (hidden {profile.hidden_size}, layers {profile.num_layers}, "
        f"steps {profile.train_steps})",
        f"device    : {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"precision : {precision}" + {"bf16": " autocast", "fp16": " autocast with a gradient scaler",
                                      "fp32": ""}[precision],
        f"threads   : {torch.get_num_threads()}" + (f" ({concurrency()} processes share {available_cores()} cores)"
                                                     if concurrency() > 1 else ""),
        f"network   : {'offline (forced)' if is_offline_forced() else 'online' if is_online() else 'offline'}",
        f"python    : {platform.python_version()} on {platform.system()} {platform.machine()}",
    ]
    lines += [f"{name:<10}: {_version_of(name)}" for name in packages]
    return "\n".join(lines)


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` chose: print it, or use its fields."""

    profile: Profile
    device: torch.device
    precision: str
    generator: torch.Generator
    seed: int


_chosen: dict[str, object] = {}  # what setup() chose: read through current_device() and current_precision()


def setup(seed: int = 0, device: str | None = None, precision: str | None = None, show: bool = True) -> Setup:
    """Seed everything, choose the device, precision and threads once, and print the banner (first cell of a
    chapter). Every training and evaluation helper then uses this device and precision by default."""
    profile = get_profile()
    generator = seed_everything(seed)
    chosen = choose_device(device, profile)
    chosen_precision = choose_precision(chosen, precision)
    _chosen.update(device=chosen, precision=chosen_precision)
    set_threads()
    import datasets
    import transformers

    datasets.disable_progress_bars()  # map/filter bars would clutter every notebook
    transformers.utils.logging.disable_progress_bar()  # and so would "Loading weights" on every cached model
    if show:
        print(banner(profile, chosen, chosen_precision))
    return Setup(profile=profile, device=chosen, precision=chosen_precision, generator=generator, seed=seed)


def current_device() -> torch.device:
    """The device :func:`setup` chose (before any setup: the profile's choice)."""
    return _chosen.get("device") or choose_device()


def current_precision(device: torch.device | str | None = None) -> str:
    """The precision :func:`setup` chose, or :func:`choose_precision` for another ``device``."""
    if device is None or torch.device(device) == _chosen.get("device"):
        return _chosen.get("precision") or choose_precision(current_device())
    return choose_precision(device)


def resolve(device: torch.device | str | None = None, precision: str | None = None) -> tuple[torch.device, str]:
    """The device and precision a helper runs on: the ones given, else those :func:`setup` chose."""
    chosen = torch.device(device) if device is not None else current_device()
    return chosen, precision if precision is not None else current_precision(chosen)


@contextlib.contextmanager
def evaluating(model: torch.nn.Module, device: torch.device | str | None = None,
               precision: str | None = None) -> Iterator[torch.device]:
    """Move ``model`` to the chosen device, put it in eval mode, and run the block without gradients under
    the chosen precision's autocast; yields the device, for the batches."""
    chosen, chosen_precision = resolve(device, precision)
    model.to(chosen).eval()
    with torch.no_grad(), autocast(chosen, chosen_precision):
        yield chosen


def to_device(batch: Any, device: torch.device | str) -> Any:
    """``batch`` with every tensor moved to ``device``, however its dicts nest (``{"mlm": {...}, "tlm": {...}}``
    in chapter 3's pretraining); anything else is left as it is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def batched(model: torch.nn.Module, count: int, batch_size: int, step: Callable[[slice, torch.device], T],
            device: torch.device | str | None = None, precision: str | None = None) -> list[T]:
    """``step(rows, device)`` for each slice of ``batch_size`` of ``count`` rows, with ``model`` evaluating
    (:func:`evaluating`): the loop of every predict and embed helper, written once."""
    check_positive_int("batch_size", batch_size)
    with evaluating(model, device, precision) as chosen:
        return [step(slice(start, start + batch_size), chosen) for start in range(0, count, batch_size)]

