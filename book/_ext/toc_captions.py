"""Translate the part captions of the table of contents ("Joint pretraining" -> "联合预训练").

Sphinx translates a page's text in its ``Locale`` transform (priority 20), but sphinx-external-toc inserts the
toctrees built from ``_toc.yml`` later (priority 100), so their captions would stay English in every edition
although the gettext builder extracts them into the root page's catalogue. This transform runs after the
insertion and looks each caption up in the same catalogue.
"""

from __future__ import annotations

from os import path

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain


class TranslateTocCaptions(SphinxTransform):
    default_priority = 110  # after sphinx_external_toc.events.InsertToctrees (100)

    def apply(self, **kwargs) -> None:
        toctrees = [node for node in self.document.findall(addnodes.toctree) if node.get("caption")]
        if not toctrees or not self.config.language or self.config.language == "en":
            return
        dirs = [path.join(self.env.srcdir, directory) for directory in self.config.locale_dirs]
        catalog, found = init_locale(dirs, self.config.language,
                                     docname_to_domain(self.env.docname, self.config.gettext_compact))
        if not found:
            return
        for node in toctrees:
            node["caption"] = node["rawcaption"] = catalog.gettext(node["caption"])


def setup(app: Sphinx) -> dict:
    app.add_transform(TranslateTocCaptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
