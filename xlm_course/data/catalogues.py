"""Parallel UI messages from the gettext catalogues (``.po``) that ship inside Django.

Django's translators keep ~860 user-interface messages ("Save and add another", "Log out",
"This field is required.") in about a hundred locales. The same English ``msgid`` in every catalogue
gives us sentence-aligned parallel text: a small, real, freely licensed parallel corpus (chapters 1, 3, 5, 6).

Cleaning, in order:
* skip obsolete, fuzzy (unreviewed), untranslated and plural-form entries;
* mask placeholders (``%(name)s``, ``%s``, ``%d``, ``{name}``) as :data:`PLACEHOLDER`, so that no language
  leaks variable names and all languages see the same token;
* drop a translation whose number of placeholders differs from the English one (a broken translation);
* group messages into *concepts*: the same English text in any case or context ("May" the month and "May"
  the abbreviation), or the same translation in one of the reference languages ("Jun" and "June" are both
  "6月" in Japanese), is one concept, so that a split by concept never puts a message in training and its
  twin in test. Each message keeps its own id (``message``) for pairing translations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import datasets
import polib

from .groups import UnionFind
from .languages import COURSE_LANGUAGES, select_languages, to_bcp47
from .provenance import Source, build_dataset

DJANGO = Source(
    name="django-ui-messages",
    package="django",
    licence="BSD-3-Clause (Django and its translations, by the Django Software Foundation and contributors)",
    homepage="https://www.djangoproject.com/",
    description="User-interface messages from the gettext catalogues (.po) of Django and its contrib apps, "
    "aligned across locales by their English msgid.",
)

PLACEHOLDER = "{var}"

# '%%' is a literal percent sign; it must be matched first so that '%%s' is not read as a placeholder.
_FORMAT_TOKEN = re.compile(
    r"%%"
    r"|%\([^)]+\)[#0\- +]*\d*(?:\.\d+)?[sdifrxXeEgGc]"
    r"|%[#0\- +]*\d*(?:\.\d+)?[sdifrxXeEgGc]"
    r"|\{[A-Za-z_]\w*\}|\{\d*\}"
)
_LETTER = re.compile(r"[^\W\d_]")


def mask_placeholders(text: str) -> tuple[str, int]:
    """Replace every format placeholder by :data:`PLACEHOLDER`; return the text and how many were masked.

    >>> mask_placeholders("Add %(name)s — 100%% done")
    ('Add {var} — 100% done', 1)
    """
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) == "%%":
            return "%"
        count += 1
        return PLACEHOLDER

    masked = _FORMAT_TOKEN.sub(replace, text)
    return " ".join(masked.split()), count


def _django_root() -> Path:
    import django

    return Path(django.__file__).parent


@cache
def _locale_dirs() -> dict[str, tuple[Path, ...]]:
    """BCP-47 tag -> the LC_MESSAGES folders of that locale (Django core first, then contrib apps)."""
    found: dict[str, list[Path]] = {}
    for messages in sorted(_django_root().glob("**/locale/*/LC_MESSAGES")):
        found.setdefault(to_bcp47(messages.parent.name), []).append(messages)
    return {tag: tuple(paths) for tag, paths in found.items()}


def available_ui_languages() -> list[str]:
    """Every locale with a Django catalogue, as BCP-47 tags."""
    return sorted(_locale_dirs())


def _message_key(entry: polib.POEntry) -> str:
    """A short stable id for an English message (its context and text), shared by all its translations."""
    raw = f"{entry.msgctxt or ''}\x04{entry.msgid}".encode()
    return "ui-" + hashlib.sha1(raw).hexdigest()[:12]


@cache
def _read_catalogue(tag: str) -> tuple[tuple[str, str, str, str, int], ...]:
    """(concept, english, translation, app, placeholders) for each usable entry of one locale."""
    rows: dict[str, tuple[str, str, str, str, int]] = {}
    for folder in _locale_dirs()[tag]:
        app = folder.parents[1].relative_to(_django_root()).as_posix().removesuffix("/locale") or "django"
        for po_file in sorted(folder.glob("*.po")):
            for entry in polib.pofile(str(po_file)):
                if entry.obsolete or entry.msgid_plural or entry.fuzzy:
                    continue
                english, english_slots = mask_placeholders(entry.msgid)
                translated, slots = mask_placeholders(entry.msgstr if tag != "en" else entry.msgid)
                if not translated or slots != english_slots or not _LETTER.search(english):
                    continue
                key = _message_key(entry)
                rows.setdefault(key, (key, english, translated, app, slots))
    return tuple(rows[key] for key in sorted(rows))


@cache
def _concepts() -> dict[str, str]:
    """message id -> concept, grouping by English text and by translation in the reference languages.

    The reference languages are fixed (:data:`COURSE_LANGUAGES`), so a message's concept does not depend
    on which languages a caller loads.
    """
    groups = UnionFind()
    for tag in COURSE_LANGUAGES:
        for key, english, text, _, _ in _read_catalogue(tag):
            groups.union(f"a:{key}", f"e:{english.casefold()}")  # 'a:' sorts first: groups are named by an id
            if tag != "en":
                groups.union(f"a:{key}", f"t:{tag}:{text.casefold()}")
    return {node[2:]: groups.find(node)[2:] for node in list(groups.parent) if node.startswith("a:")}


def load_ui_messages(
    languages: Iterable[str] | None = COURSE_LANGUAGES,
    complete_only: bool = False,
) -> datasets.Dataset:
    """Django's UI messages in ``languages`` (BCP-47), one row per message and language.

    Columns: ``concept`` (the group of messages that mean the same, for splitting), ``message`` (the id of
    the English message a row translates: pair translations by it), ``lang``, ``text``, ``english`` and
    ``app``. With ``complete_only=True`` only messages translated into *every*
    requested language are kept, which makes the corpus fully parallel. ``languages=None`` loads all
    ~100 locales.
    """
    chosen = select_languages(languages, available_ui_languages(), "Django's catalogues")
    per_language = {tag: _read_catalogue(tag) for tag in chosen}
    keep: set[str] | None = None
    if complete_only:
        keep = set.intersection(*({row[0] for row in rows} for rows in per_language.values()))
    concepts = _concepts()
    rows = [
        {"concept": concepts.get(key, key), "message": key, "lang": tag, "text": text, "english": english,
         "app": app}
        for tag, catalogue in per_language.items()
        for key, english, text, app, _ in catalogue
        if keep is None or key in keep
    ]
    return build_dataset(rows, ("concept", "message", "lang", "text", "english", "app"), DJANGO)
