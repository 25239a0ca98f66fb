"""Figures render Chinese, Arabic and Devanagari labels with real glyphs, not boxes."""

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from xlm_course import plots  # noqa: E402

LABELS = ["中文", "日本語", "العربية", "हिन्दी", "Kiswahili", "русский"]


def test_fonts_cover_every_script_the_course_uses():
    families = plots.setup_fonts()
    assert families[0] == "DejaVu Sans" and len(families) == 4
    assert plots.missing_glyphs(" ".join(LABELS) + " 한국어 ελληνικά") == []
    assert plots.missing_glyphs("𓀀") == ["𓀀"]  # a hieroglyph: no font here has it


def test_rendered_png_has_no_missing_glyphs(tmp_path):
    plots.setup_fonts()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = plots.bar_by_language(dict(zip(LABELS, range(6, 0, -1), strict=True)), title="语言 / لغة / भाषा")
        path = plots.save(ax.figure, tmp_path / "bars.png")
    plt.close("all")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    pixels = np.asarray(Image.open(path).convert("L"))
    assert pixels.shape[0] > 100 and (pixels < 128).mean() > 0.005  # something dark was drawn


def test_missing_glyph_warning_would_be_caught(tmp_path):
    """The check above is not vacuous: a font without CJK warns about the missing glyphs."""
    with warnings.catch_warnings(record=True) as caught, matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("中文")
        fig.savefig(tmp_path / "tofu.png")
    plt.close("all")
    assert any("missing from font" in str(w.message) for w in caught)


def test_heatmap_and_grouped_bars():
    ax = plots.heatmap(np.eye(3), ["a", "中", "ب"], ["x", "y", "ह"], annotate=True)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "中", "ب"]
    ax = plots.grouped_bars({"α=1": {"en": 1.0, "sw": 0.1}, "α=0.3": {"en": 0.7, "sw": 0.3}})
    assert len(ax.patches) == 4 and ax.get_yscale() == "linear"
    ax = plots.grouped_bars({"texts": {"en": 20_000, "sw": 300}, "pairs": {"en": 0, "sw": 900}}, log=True)
    assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["en", "sw"]
    plt.close("all")


def test_bad_plot_input():
    with pytest.raises(ValueError, match="does not match"):
        plots.heatmap(np.eye(3), ["a"], ["b"])
    with pytest.raises(ValueError, match="empty"):
        plots.bar_by_language({})
    with pytest.raises(ValueError, match="empty"):
        plots.grouped_bars({})
