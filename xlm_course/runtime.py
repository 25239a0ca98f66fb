"""Where and how the course's code runs: seeds, device, threads, the profile, online/offline.

Every notebook starts with :func:`setup`, which seeds all generators, picks the device and prints
:func:`banner`. The *profile* (``XLM_COURSE_PROFILE``) sets sizes only; the code path is the same:

* ``ci`` (default): tiny models, a few minutes on a 2-core CPU, no internet;
* ``colab``: larger tiny models and more steps, a GPU if there is one;
* ``hub``: real pretrained checkpoints (e.g. ``xlm-roberta-base``) downloaded from the Hugging Face Hub.
"""

from __future__ import annotations

import os
import platform
import random
import socket
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch

PROFILE_VARIABLE = "XLM_COURSE_PROFILE"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


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
    uses_hub_checkpoints: bool


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", hidden_size=128, num_layers=2, num_heads=4, vocab_size=8000, max_seq_len=32,
                  batch_size=32, train_steps=1600, prefers_gpu=False, uses_hub_checkpoints=False),
    "colab": Profile("colab", hidden_size=256, num_layers=4, num_heads=4, vocab_size=16000, max_seq_len=64,
                     batch_size=64, train_steps=6000, prefers_gpu=True, uses_hub_checkpoints=False),
    "hub": Profile("hub", hidden_size=768, num_layers=12, num_heads=12, vocab_size=250002, max_seq_len=128,
                   batch_size=32, train_steps=1000, prefers_gpu=True, uses_hub_checkpoints=True),
}


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
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
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


def set_threads(num_threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads (default: the number of CPU cores this process may use)."""
    if num_threads is None:
        num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
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


def in_colab() -> bool:
    """True inside Google Colab."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def _version_of(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def banner(profile: Profile | None = None, device: torch.device | None = None) -> str:
    """One block of text for the top of a notebook: versions, device, threads, profile, network."""
    profile = profile or get_profile()
    device = device or choose_device(profile=profile)
    packages = ("torch", "transformers", "tokenizers", "datasets", "xlm-course")
    lines = [
        f"profile   : {profile.name} (hidden {profile.hidden_size}, layers {profile.num_layers}, "
        f"steps {profile.train_steps})",
        f"device    : {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"threads   : {torch.get_num_threads()}",
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
    generator: torch.Generator
    seed: int


def setup(seed: int = 0, device: str | None = None, show: bool = True) -> Setup:
    """Seed everything, choose the device and threads, and print the banner (first cell of a chapter)."""
    profile = get_profile()
    generator = seed_everything(seed)
    chosen = choose_device(device, profile)
    set_threads()
    import datasets
    import transformers

    datasets.disable_progress_bars()  # map/filter bars would clutter every notebook
    transformers.utils.logging.disable_progress_bar()  # and so would "Loading weights" on every cached model
    if show:
        print(banner(profile, chosen))
    return Setup(profile=profile, device=chosen, generator=generator, seed=seed)
