"""Glued numbers inside translated paragraphs ({glue:text}`key:.1f` in a msgstr of the Chinese edition).

Sphinx parses each translated paragraph as a document of its own. myst-nb's glue roles look a local key up in
the notebook being parsed, which that small document does not carry, so every local glue in the Chinese edition
would render empty ("No key ... found in glue data for this document"). In such a paragraph these roles turn a
local key into a reference to the same page, ``/<page>.ipynb::key``: the form myst-nb resolves from the glue
data it saved for every notebook, as it does for glue from another page. Everywhere else they are myst-nb's.
"""

from __future__ import annotations

from myst_nb.ext.glue.roles import PasteRoleAny, PasteTextRole
from sphinx.application import Sphinx


class _SamePage:
    def run(self):
        if "nb_renderer" not in self.document and "::" not in self.text:
            env = self.document.settings.env
            self.text = f"/{env.doc2path(env.docname, False)}::{self.text}"
        return super().run()


class PasteText(_SamePage, PasteTextRole):
    pass


class PasteAny(_SamePage, PasteRoleAny):
    pass


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")
    for name, role in (("text", PasteText()), ("", PasteAny()), ("any", PasteAny())):
        app.add_role_to_domain("glue", name, role, override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
