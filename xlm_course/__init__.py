"""Companion package of the course *Cross-lingual Transformers in Practice*; its folders mirror the book.

``runtime`` (seeds, device, precision, threads, profile), ``cache`` (train once, reuse), ``data/`` and
``text/`` (chapter 1), ``models/`` (chapter 2 and the encoders), ``objectives`` and ``training`` (chapters 3–5),
``pretraining``, ``transfer/`` and ``ranking`` (chapter 3), ``multimodal/`` (3.6–3.7), ``applications/``
(chapter 6), ``deployment/`` (chapter 8), ``plots``, ``exercises/`` and ``cli``.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# Idle OpenMP threads that spin steal the cores of every other process: two notebooks on 2 cores ran at 0.39×
# the work of one alone with spinning threads, 1.34× with passive ones. OpenMP reads this once, when torch loads,
# so it is set here, before any course module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__ = version("xlm-course")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0.0.0"
