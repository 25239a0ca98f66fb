"""Companion package of the course *Cross-lingual Transformers in Practice*; its folders mirror the book.

One concept per module, in layers; a module imports only from its own part and the layers below it
(``tests/test_architecture.py`` reads the imports from the source and checks it), lowest first:

``validation``, ``cache``, ``plots`` → ``runtime`` (seeds, device, precision, threads, profile) → ``claims`` →
``data/`` (the corpora and the course's languages, chapter 1) → ``text/`` (tokenizer, masking, model inputs) →
``models/`` (attention, the tiny encoders, e5-small, fusion heads, and where an encoder comes from, with
its embeddings) → ``training`` (one config, one loop) → ``objectives`` → ``ranking`` (metrics) →
``pretraining`` (chapter 3) → ``transfer/`` (the compared encoders, tasks, fine-tuning, the zero-shot tables) →
``multimodal/``, ``applications/``, ``deployment/`` (chapters 3.6–3.7, 6, 8) → ``exercises/`` → ``cli``.
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
