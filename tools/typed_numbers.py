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
checked for the same numbers by tests/book/test_translations.py, so only the English sources are read here.
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

# What is never prose, removed before looking for numerals (order matters: fences before inline code).
HIDDEN = [
    re.compile(r"^(```|~~~|:::).*?$.*?^\1\s*$", re.S | re.M),  # fenced code and MyST directives' options
    re.compile(r"<!--.*?-->", re.S),
    # A student notebook's model answer (xlm_course.exercises.student): the solution notebook's account of what
    # the learner's own code measures, checked there by its hidden tests when make test runs it, not book prose.
    re.compile(r"<details>\n<summary>The model answer: open it once you have written yours</summary>.*?</details>", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),  # roles: {glue:text}`…`, {cite}`…`, {doc}`…`
    re.compile(r"``.+?``|`[^`\n]+`"),
    re.compile(r"!?\[[^\]]*\]\([^)]*\)"),  # links and images, their text included
    re.compile(r"<[^>\n]+>"),  # HTML tags and autolinks
]
DIRECTIVE_LINE = re.compile(r"^(```|:::)\{?[a-z-]*\}?.*$|^:[a-z-]+:.*$", re.M)
# A numeral standing alone: not glued to letters, underscores or a name's hyphen (fp32, e5-small, AVX-512, Q4_0).
NUMERAL = re.compile(r"(?<![\w⁰¹²³⁴-⁹₀-₉])(?<![A-Za-z]-)\d(?:\d|,(?=\d))*(?:\.\d+)?(?![\w])")
SENTENCE = re.compile(r"(?:[^.!?。\n]|\.(?=\d))+[.!?。]?")  # "0.3" does not end a sentence


@dataclass(frozen=True)
class Finding:
    path: str
    cell: int | None
    numeral: str
    sentence: str

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
                spans = []  # where the page's allowed phrases occur in this sentence
                for entry in phrases.get(page, []):
                    phrase = " ".join(entry["phrase"].split())
                    starts = [m.start() for m in re.finditer(re.escape(phrase), sentence)]
                    if starts:
                        used.add((page, entry["phrase"]))
                        spans += [(start, start + len(phrase)) for start in starts]
                for numeral in NUMERAL.finditer(sentence):
                    if not any(start <= numeral.start() and numeral.end() <= end for start, end in spans):
                        findings.append(Finding(page, cell, numeral.group(0), sentence))
    stale = [f"{page}: «{entry['phrase']}»" for page, entries in phrases.items() for entry in entries
             if (page, entry["phrase"]) not in used]
    return findings, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = parser.parse_args(argv)
    findings, stale = check(ROOT, args.allowlist)
    for finding in findings:
        print(finding)
    for entry in stale:
        print(f"stale allowlist phrase (matches no sentence any more): {entry}")
    if findings or stale:
        print(f"\n{len(findings)} typed numbers, {len(stale)} stale allowlist phrases. Glue a computed number "
              f"(xlm_course.claims.number or claim), or list a setting with its reason in {args.allowlist.name}.")
        return 1
    print(f"every number in the prose of {len(book_files(ROOT))} pages is glued, in math or code, or allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
