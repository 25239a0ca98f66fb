"""Figures whose labels can be Chinese, Japanese, Arabic or Devanagari (every chapter).

Matplotlib's default font (DejaVu Sans) has no CJK, Arabic or Devanagari glyphs: such labels come out as
empty boxes ("tofu"). :func:`setup_fonts` registers the Noto fonts that ship inside PyPI packages
(``noto-cjk-sans-otc``, ``fontpkg-noto-sans-arabic``, ``fontpkg-noto-sans-devanagari``) and sets a fallback
chain, so each character is drawn by the first font that has it. Matplotlib (>= 3.10, with libraqm) also
shapes the text: Arabic letters join and run right to left, Devanagari vowel signs move into place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from fontTools.ttLib import TTCollection, TTFont
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

BASE_FAMILY = "DejaVu Sans"
_FONT_PACKAGES = (
    ("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc"),
    ("fontpkg_noto_sans_arabic", "files/NotoSansArabic*.ttf"),
    ("fontpkg_noto_sans_devanagari", "files/NotoSansDevanagari*.ttf"),
)


def font_files() -> list[Path]:
    """The font files shipped by the font packages, in fallback order (CJK, Arabic, Devanagari)."""
    import importlib

    files = []
    for package, pattern in _FONT_PACKAGES:
        folder = Path(importlib.import_module(package).__file__).parent
        found = sorted(folder.glob(pattern))
        if not found:
            raise FileNotFoundError(f"the package {package} has no font matching {pattern} in {folder}")
        files.append(found[0])
    return files


@cache
def setup_fonts() -> tuple[str, ...]:
    """Register the Noto fonts and make them matplotlib's fallback chain; return the family names."""
    families = [BASE_FAMILY]
    for path in font_files():
        font_manager.fontManager.addfont(str(path))
        families.append(font_manager.FontProperties(fname=str(path)).get_name())
    matplotlib.rcParams["font.family"] = families
    matplotlib.rcParams["axes.unicode_minus"] = False
    return tuple(families)


@cache
def _covered_codepoints() -> frozenset[int]:
    covered: set[int] = set()
    base = font_manager.findfont(font_manager.FontProperties(family=BASE_FAMILY), fallback_to_default=True)
    for path in [Path(base), *font_files()]:
        fonts = TTCollection(str(path)).fonts[:1] if path.suffix == ".ttc" else [TTFont(str(path), lazy=True)]
        for font in fonts:
            covered.update(font.getBestCmap() or {})
    return frozenset(covered)


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` that no registered font can draw (they would render as boxes)."""
    covered = _covered_codepoints()
    return sorted({char for char in text if not char.isspace() and ord(char) not in covered
                   and not 0xFE00 <= ord(char) <= 0xFE0F and ord(char) not in (0x200C, 0x200D)})


def bar_by_language(values: Mapping[str, float], title: str = "", ylabel: str = "", ax: Axes | None = None,
                    sort: bool = True, log: bool = False, labels: Mapping[str, str] | None = None,
                    color: str = "tab:blue") -> Axes:
    """Bars of one value per language (counts, fertility, accuracy); ``labels`` renames the x ticks."""
    if not values:
        raise ValueError("values is empty: give at least one language and its value")
    setup_fonts()
    items = sorted(values.items(), key=lambda item: -item[1]) if sort else list(values.items())
    ax = ax or plt.subplots(figsize=(max(4.0, 0.55 * len(items) + 1.5), 3.2))[1]
    names = [labels.get(lang, lang) if labels else lang for lang, _ in items]
    ax.bar(names, [value for _, value in items], color=color)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.tick_params(axis="x", rotation=45 if len(items) > 6 else 0)
    ax.grid(axis="y", alpha=0.3)
    return ax


def grouped_bars(table: Mapping[str, Mapping[str, float]], title: str = "", ylabel: str = "",
                 ax: Axes | None = None, log: bool = False) -> Axes:
    """Bars per language (x) for several series (legend): ``table[series][language] = value``; ``log`` for
    counts that span orders of magnitude (a zero then draws no bar)."""
    if not table:
        raise ValueError("table is empty: give at least one series")
    setup_fonts()
    series = list(table)
    languages = list(next(iter(table.values())))
    width = 0.8 / len(series)
    ax = ax or plt.subplots(figsize=(max(5.0, 0.7 * len(languages) + 2), 3.4))[1]
    x = np.arange(len(languages))
    for offset, name in enumerate(series):
        ax.bar(x + (offset - (len(series) - 1) / 2) * width, [table[name][lang] for lang in languages], width,
               label=name)
    ax.set_xticks(x, languages)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return ax


def heatmap(matrix: np.ndarray | Sequence[Sequence[float]], row_labels: Sequence[str],
            column_labels: Sequence[str], title: str = "", ax: Axes | None = None, cmap: str = "viridis",
            annotate: bool = False, fmt: str = "{:.2f}") -> Axes:
    """A labelled heatmap (attention weights, transfer matrices); labels may be in any script."""
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or data.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix of shape {data.shape} does not match {len(row_labels)} row labels and "
                         f"{len(column_labels)} column labels")
    setup_fonts()
    ax = ax or plt.subplots(figsize=(0.5 * len(column_labels) + 2.5, 0.4 * len(row_labels) + 1.5))[1]
    image = ax.imshow(data, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(column_labels)), column_labels, rotation=60, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.set_title(title)
    if annotate:
        for (i, j), value in np.ndenumerate(data):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7,
                    color="white" if value < data.mean() else "black")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def save(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``figure`` (creating folders) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
