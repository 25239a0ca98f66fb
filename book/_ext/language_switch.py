"""A header button that opens the same page in the book's other edition (English <-> 中文).

The two editions are built from the same sources into sibling folders (`make book`: ``_build/html`` and
``_build/html-zh``), so a page's counterpart has the same page name under the other edition's root.
``language_switch_url`` is that root relative to this edition's root (``../html-zh/`` in the English build).
Each page also declares its counterpart as ``<link rel="alternate" hreflang=…>`` for search engines.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def add_switch(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    root = app.config.language_switch_url
    if not root or "header_buttons" not in context:
        return
    # From this page up to this edition's root, then across to the other edition's root.
    url = "../" * pagename.count("/") + root + pagename + app.builder.out_suffix
    context["header_buttons"].append({
        "type": "link",
        "url": url,
        "text": app.config.language_switch_label,
        "tooltip": app.config.language_switch_tooltip,
        "icon": "fas fa-language",
        "label": "language-switch-button",
    })
    hreflang = app.config.language_switch_hreflang
    context["metatags"] = context.get("metatags", "") + f'\n<link rel="alternate" hreflang="{hreflang}" href="{url}">'


def setup(app: Sphinx) -> dict:
    app.add_config_value("language_switch_url", "", "html", types=[str])
    app.add_config_value("language_switch_label", "", "html", types=[str])
    app.add_config_value("language_switch_tooltip", "", "html", types=[str])
    app.add_config_value("language_switch_hreflang", "", "html", types=[str])
    # After sphinx-book-theme has filled its header buttons (priority 501).
    app.connect("html-page-context", add_switch, priority=502)
    # The theme opens every link button in a new tab; the other edition of the same page replaces this one.
    app.add_js_file(None, body="document.addEventListener('DOMContentLoaded', () => document.querySelectorAll("
                    "'a.btn-language-switch-button').forEach((a) => a.removeAttribute('target')));")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
