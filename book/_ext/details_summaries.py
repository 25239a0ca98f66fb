"""Translate the labels of collapsed blocks ("<summary>The model answer: …</summary>" -> "参考答案：…").

The exercise notebooks collapse each model answer and the Summary in an HTML ``<details>`` block, which Jupyter
and Colab render too. MyST keeps the block's first lines (``<details>`` and its ``<summary>``) as a raw HTML node,
and Sphinx never translates raw nodes, so the labels stayed English in the Chinese edition while the answers
below them were translated. This transform, run before Sphinx's ``Locale`` transform (priority 20), cuts each
label out of its raw node into a text node of its own, which the gettext builder extracts into the page's
catalogue and the Locale transform translates like any paragraph; the HTML writer writes the label's text back
between the raw halves, so the page is unchanged in English.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.writers.html5 import HTML5Translator

SUMMARY = re.compile(r"(<summary>)(.*?)(</summary>)", flags=re.DOTALL)


class summary_label(nodes.General, nodes.TextElement):  # noqa: N801 - docutils names nodes in lower case
    """The text of a ``<summary>``, between the raw HTML before and after it."""


class SplitSummaryLabels(SphinxTransform):
    default_priority = 15  # before sphinx.transforms.i18n.Locale (20)

    def apply(self, **kwargs) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if "html" not in raw.get("format", "").split() or not SUMMARY.search(raw.astext()):
                continue
            pieces, text, at = [], raw.astext(), 0
            for found in SUMMARY.finditer(text):
                label = found.group(2).strip()
                pieces.append(nodes.raw("", text[at:found.end(1)], format="html"))
                pieces.append(summary_label(label, label))
                at = found.start(3)
            pieces.append(nodes.raw("", text[at:], format="html"))
            for piece in pieces:
                piece.source, piece.line = raw.source, raw.line
            raw.replace_self(pieces)


def visit_summary_label(self: HTML5Translator, node: summary_label) -> None:
    """Nothing around the label: its text is written inside the ``<summary>`` the raw node opened."""


def depart_summary_label(self: HTML5Translator, node: summary_label) -> None:
    pass


def setup(app: Sphinx) -> dict:
    app.add_node(summary_label, html=(visit_summary_label, depart_summary_label))
    app.add_transform(SplitSummaryLabels)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
