"""The book's two editions from one set of sources: `make gettext`, `make book-zh`, `make check-translations`.

The English text of every page and notebook markdown cell is extracted by Sphinx's gettext builder into message
templates; the Chinese text lives in ``locales/zh_CN/LC_MESSAGES/<page>.po`` (one catalogue per page). Code
cells and their outputs are never messages, so both editions show the same code and the same executed numbers.

* ``config EDITION OUT`` writes the Jupyter Book config of an edition (``en`` or ``zh``) to ``OUT/_config.yml``;
  ``--check`` makes it the strict check build's (nothing executed, glue warnings silenced as in check-book).
* ``extract`` (``make gettext``) runs the gettext builder into ``_build/gettext`` and merges its templates into
  ``locales/`` with sphinx-intl: new messages come in empty, changed ones fuzzy, removed ones obsolete.
* ``check`` extracts fresh templates and merges them into a copy of the catalogues, exactly as ``make gettext``
  would, then fails on every message that is untranslated or fuzzy. Without the merge, a changed English
  paragraph would merely be missing from the catalogue and the Chinese page would fall back to English unseen;
  with it, the paragraph shows up as fuzzy (its old translation offered as the guess), and the check names it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh_CN"
# What the Chinese edition changes in _config.yml; everything else (execution cache included) is shared.
ZH = {
    "title": "跨语言 Transformer 实战",
    "author": "《跨语言 Transformer 实战》作者",
    "sphinx_config": {
        "project": "跨语言 Transformer 实战",
        "language": LANGUAGE,
        "language_switch_url": "../html/",
        "language_switch_label": "English",
        "language_switch_tooltip": "Read this page in English",
        "language_switch_hreflang": "en",
    },
}


def edition_config(edition: str, *, check: bool = False, hide_solutions: bool = False, root: Path = ROOT) -> dict:
    """The `_config.yml` of the ``en`` or ``zh`` edition, to be written anywhere under ``root``.

    ``check`` turns execution off (the strict build); ``hide_solutions`` hides every sphinx-exercise solution
    (the student book).
    """
    if edition not in ("en", "zh"):
        raise ValueError(f"edition must be 'en' or 'zh', got {edition!r}")
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    # Jupyter Book resolves a local extension's folder against the config file's folder, which moves.
    extensions = config["sphinx"].get("local_extensions", {})
    config["sphinx"]["local_extensions"] = {name: str((root / path).resolve()) for name, path in extensions.items()}
    config["sphinx"]["config"]["hide_solutions"] = hide_solutions
    if edition == "zh":
        config["title"], config["author"] = ZH["title"], ZH["author"]
        config["sphinx"]["config"].update(ZH["sphinx_config"])
    if check:
        config["execute"]["execute_notebooks"] = "off"
        # Nothing runs, so no glued value exists (tests/test_claims.py checks each glue names a stated claim).
        config["sphinx"]["config"]["suppress_warnings"] += ["mystnb.glue", "mystnb.glue_ref"]
    return config


def write_config(edition: str, out: Path, *, check: bool = False, hide_solutions: bool = False,
                 root: Path = ROOT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "_config.yml"
    config = edition_config(edition, check=check, hide_solutions=hide_solutions, root=root)
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def extract(root: Path, out: Path) -> Path:
    """Run Sphinx's gettext builder on the book at ``root``; return the folder of ``.pot`` templates."""
    config = write_config("en", out, check=True, root=root)
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(root), "--config", str(config),
                    "--path-output", str(out), "--builder", "custom", "--custom-builder", "gettext", "--quiet"],
                   check=True, cwd=root, stdout=subprocess.DEVNULL)
    return out / "_build" / "gettext"


def merge(templates: Path, locales: Path) -> None:
    """`sphinx-intl update`: new messages are added empty, changed ones marked fuzzy, removed ones made obsolete."""
    subprocess.run([str(Path(sys.executable).parent / "sphinx-intl"), "update", "--pot-dir", str(templates),
                    "--locale-dir", str(locales), "--language", LANGUAGE], check=True, stdout=subprocess.DEVNULL)


def problems(templates: Path, locales: Path) -> tuple[int, list[str]]:
    """Every message of every template that lacks a finished translation in ``locales``: (messages, problems)."""
    from babel.messages.pofile import read_po

    count, found = 0, []
    for pot in sorted(templates.rglob("*.pot")):
        page = pot.relative_to(templates).with_suffix(".po")
        with open(pot, encoding="utf-8") as handle:
            wanted = [m.id for m in read_po(handle) if m.id]
        count += len(wanted)
        po = locales / LANGUAGE / "LC_MESSAGES" / page
        if not po.exists():
            found.append(f"{page}: no catalogue ({len(wanted)} messages): run `make gettext` and translate it")
            continue
        with open(po, encoding="utf-8") as handle:
            catalogue = read_po(handle)
        for msgid in wanted:
            message = catalogue.get(msgid)
            short = " ".join(msgid.split())[:90]
            if message is None or not message.string:
                found.append(f"{page}: untranslated: {short}")
            elif message.fuzzy:
                found.append(f"{page}: fuzzy (the English changed; check the translation, then drop the "
                             f"fuzzy flag): {short}")
    return count, found


def verify(root: Path = ROOT) -> tuple[int, list[str]]:
    """Extract, merge into a copy of ``root/locales`` and list what is untranslated or fuzzy: (messages, problems)."""
    with tempfile.TemporaryDirectory() as tmp:
        templates = extract(root, Path(tmp) / "gettext")
        locales = Path(tmp) / "locales"
        shutil.copytree(root / "locales", locales)
        merge(templates, locales)
        return problems(templates, locales)


def check(root: Path = ROOT) -> int:
    count, found = verify(root)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} of {count} messages are not translated; `make gettext` updates the catalogues in "
              f"locales/{LANGUAGE}/LC_MESSAGES, then translate each empty or fuzzy msgstr")
        return 1
    print(f"all {count} messages of the book are translated into {LANGUAGE}, none fuzzy")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="write an edition's _config.yml")
    config.add_argument("edition", choices=["en", "zh"])
    config.add_argument("out", type=Path)
    config.add_argument("--check", action="store_true", help="the strict check build: execute nothing")
    config.add_argument("--hide-solutions", action="store_true", help="the student book: solutions hidden")
    commands.add_parser("extract", help="extract the templates and merge them into locales/ (make gettext)")
    commands.add_parser("check", help="fail on any untranslated or fuzzy message")
    args = parser.parse_args(argv)
    if args.command == "config":
        print(write_config(args.edition, args.out, check=args.check, hide_solutions=args.hide_solutions))
        return 0
    if args.command == "extract":
        merge(extract(ROOT, ROOT / "_build" / "gettext"), ROOT / "locales")
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
