"""Every number the book's prose states is computed: `make check-numbers` (part of `make test`).

A result typed into a sentence by hand ("about 60,000 tokens", "0.13%") stops being true the day the code
changes, and nothing notices. So every numeral in the prose of the book's pages and notebook markdown cells must
be one of:

* glued (``{glue:text}`key```: the notebook computed it) or inside any other role (``{cite}``, ``{doc}``),
* inside math (``$…$``), code (`` `…` `` or a fenced block), a link, or an HTML comment,
* part of a name (``fp32``, ``e5-small``, ``Q4_0``, ``AVX-512``),
* matched by a pattern of ``book/numbers_allowlist.yml`` (chapter references, years, …), or
* listed there for its page, by a phrase of its sentence, with the reason it is not a measurement (a setting
  such as "α = 0.3", a published number with its citation, a fact of a standard).

Anything else fails the check, which names the file, the cell and the sentence. The Chinese catalogues are
checked for the same numbers by tests/test_translations.py, so only the English sources are read here.

The book predates the check, and its typed numbers are being worked off: ``book/numbers_debt.txt`` lists the
ones that remain (page, numeral, sentence), written by ``--write-debt``. The check fails on a typed number that
is not in the debt (a new one) and on a debt line that no longer occurs (fixed: delete it), so the debt only
shrinks. Nothing is added to it by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = ROOT / "book" / "numbers_allowlist.yml"
DEBT = ROOT / "book" / "numbers_debt.txt"

# What is never prose, removed before looking for numerals (order matters: fences before inline code).
HIDDEN = [
    re.compile(r"^(```|~~~|:::).*?$.*?^\1\s*$", re.S | re.M),  # fenced code and MyST directives' options
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),  # roles: {glue:text}`…`, {cite}`…`, {doc}`…`
    re.compile(r"``.+?``|`[^`\n]+`"),
    re.compile(r"!?\[[^\]]*\]\([^)]*\)"),  # links and images, their text included
    re.compile(r"<[^>\n]+>"),  # HTML tags and autolinks
]
DIRECTIVE_LINE = re.compile(r"^(```|:::)\{?[a-z-]*\}?.*$|^:[a-z-]+:.*$", re.M)
# A numeral standing alone: not glued to letters, underscores or a name's hyphen (fp32, e5-small, AVX-512, Q4_0).
NUMERAL = re.compile(r"(?<![\w⁰¹²³⁴-⁹₀-₉])(?<![A-Za-z]-)\d[\d,]*(?:\.\d+)?(?![\w])")
SENTENCE = re.compile(r"(?:[^.!?。\n]|\.(?=\d))+[.!?。]?")  # "0.3" does not end a sentence


@dataclass(frozen=True)
class Finding:
    path: str
    cell: int | None
    numeral: str
    sentence: str

    @property
    def debt_line(self) -> str:
        """The finding as a line of the debt file: stable under edits elsewhere (no cell index)."""
        return f"{self.path} | {self.numeral} | {self.sentence}"

    def __str__(self) -> str:
        where = f"{self.path}, cell {self.cell}" if self.cell is not None else self.path
        return f"{where}: {self.numeral!r} typed in «{self.sentence}»"


def book_files(root: Path = ROOT) -> list[Path]:
    """The pages of the table of contents (notebooks and Markdown), in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []) + entry.get("chapters", []))

    walk(toc.get("parts", []))
    found = []
    for name in files:
        for suffix in (".ipynb", ".md"):
            if (root / f"{name}{suffix}").exists():
                found.append(root / f"{name}{suffix}")
                break
    return found


def prose(path: Path) -> list[tuple[int | None, str]]:
    """(cell index or None, text) for each Markdown part of a page."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    if text.startswith("---\n"):  # front matter
        text = text.split("\n---\n", 1)[-1]
    return [(None, text)]


def visible(text: str) -> str:
    """The text a reader reads as prose: math, code, roles, links and directives' option lines removed."""
    for pattern in HIDDEN[:1]:
        text = pattern.sub(lambda m: _keep_body(m.group(0)), text)
    text = DIRECTIVE_LINE.sub(" ", text)
    for pattern in HIDDEN[1:]:
        text = pattern.sub(" ", text)
    return text


def _keep_body(block: str) -> str:
    """A fenced block: code is hidden, but a MyST directive (``:::{note}``, ```` ```{admonition} ````) is prose."""
    first = block.split("\n", 1)[0]
    if re.match(r"^(```|~~~)\s*[a-z]*\s*$", first) and "{" not in first:  # plain code fence
        return " "
    return block.split("\n", 1)[1].rsplit("\n", 1)[0] if "\n" in block else " "


def load_allowlist(path: Path = ALLOWLIST) -> tuple[list[tuple[re.Pattern, str]], dict[str, list[dict]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    patterns = [(re.compile(entry["pattern"]), entry["reason"]) for entry in data["patterns"]]
    for entry in data["patterns"]:
        if not entry.get("reason"):
            raise ValueError(f"{path}: the pattern {entry['pattern']!r} needs a reason")
    phrases: dict[str, list[dict]] = {}
    for page, entries in (data.get("phrases") or {}).items():
        for entry in entries:
            if not entry.get("reason") or not entry.get("phrase"):
                raise ValueError(f"{path}: every phrase of {page} needs a phrase and a reason, got {entry!r}")
        phrases[page] = entries
    return patterns, phrases


def check(root: Path = ROOT, allowlist: Path = ALLOWLIST) -> tuple[list[Finding], list[str]]:
    """The typed numerals of the book, and the allowlist phrases that no longer match anything (stale)."""
    patterns, phrases = load_allowlist(allowlist)
    findings, used = [], set()
    for path in book_files(root):
        page = str(path.relative_to(root))
        for cell, text in prose(path):
            shown = visible(text)
            for pattern, _ in patterns:
                shown = pattern.sub(lambda m: re.sub(r"\d", "#", m.group(0)), shown)
            for match in SENTENCE.finditer(shown):
                sentence = " ".join(match.group(0).split())
                numerals = NUMERAL.findall(sentence)
                if not numerals:
                    continue
                allowed = [e for e in phrases.get(page, []) if " ".join(e["phrase"].split()) in sentence]
                for entry in allowed:
                    used.add((page, entry["phrase"]))
                    sentence = sentence.replace(" ".join(entry["phrase"].split()), "")
                for numeral in NUMERAL.findall(sentence):
                    findings.append(Finding(page, cell, numeral, " ".join(match.group(0).split())))
    stale = [f"{page}: «{entry['phrase']}»" for page, entries in phrases.items() for entry in entries
             if (page, entry["phrase"]) not in used]
    return findings, stale


def read_debt(path: Path = DEBT) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    parser.add_argument("--debt", type=Path, default=DEBT)
    parser.add_argument("--write-debt", action="store_true",
                        help="write every current finding to the debt file (only to shrink it: see the docstring)")
    parser.add_argument("--all", action="store_true", help="print every typed number, the debt's too")
    args = parser.parse_args(argv)
    findings, stale = check(ROOT, args.allowlist)
    if args.write_debt:
        header = ("# Typed numbers of the book's prose still to be glued or justified (tools/numbers.py). Generated by\n"
                  "# `python tools/numbers.py --write-debt`; the check fails on any line that no longer occurs.\n")
        lines = sorted(dict.fromkeys(f.debt_line for f in findings))
        args.debt.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(lines)} debt lines written to {args.debt}")
        return 0
    debt = read_debt(args.debt)
    new = [f for f in findings if f.debt_line not in debt]
    found = {f.debt_line for f in findings}
    paid = [line for line in debt if line not in found]
    for finding in findings if args.all else new:
        print(finding)
    for entry in stale:
        print(f"stale allowlist phrase (matches no sentence any more): {entry}")
    for line in paid:
        print(f"debt line no longer found (delete it from {args.debt.name}): {line}")
    if new or stale or paid:
        print(f"\n{len(new)} new typed numbers, {len(stale)} stale allowlist phrases, {len(paid)} paid debt lines. "
              f"Glue a computed number (xlm_course.claims.number or claim), or list a setting with its reason in "
              f"{args.allowlist.name}.")
        return 1
    print(f"no new typed number in the prose of {len(book_files(ROOT))} pages ({len(debt)} old ones still to fix, "
          f"listed in {args.debt.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
