"""A claim of the book, stated once: the measured value, the comparison, the threshold and the sentence it backs.

A notebook that writes "BLEU stays in single digits" must check exactly that, and the number its prose shows
must be the one it measured. :func:`claim` does the three things at once::

    claim("bleu_test", bleu, "<", 10, "BLEU stays in single digits")

It asserts the comparison (the error says what was claimed and what was measured), glues the value under its key
for the page's text (myst-nb's ``glue``: ``{glue:text}`bleu_test:.1f``` in the notebook, or
``{glue:text}`../06_applications/01_translation.ipynb::bleu_test:.1f``` on another page), and, where
``$XLM_COURSE_CLAIMS`` names a folder (``make notebooks`` sets it), records it there as ``<key>.json``.
``make claims`` (:func:`claims_table`) then prints every claim of the book with its margin, thinnest first: a
claim a few per cent from its threshold fails on another machine, and needs a wider threshold or a better
measurement.

A claim whose truth depends on which model a profile loads says so: ``holds_for=COURSE_ENCODER_PROFILES``
(the profiles whose pretrained encoder is the course's own; under ``hub`` xlm-roberta-base stands in). Under
any other profile it is not asserted but printed as skipped, with the profiles it holds for, and its value is
still glued, so the page renders.

The **margin** is the distance from failing relative to the threshold: (value − threshold) / |threshold| for
``>`` and ``>=``, (threshold − value) / |threshold| for ``<`` and ``<=``, and the smaller of the two for
``between``; a range spanning orders of magnitude (an "about 10⁻⁶" is ``between (1e-7, 1e-5)``) has its margins
taken in log10, in decades, where that "about" lives. A threshold of zero gives the absolute difference.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD_VARIABLE = "XLM_COURSE_CLAIMS"
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")  # a glue key the myst roles accept, readable in prose
COMPARISONS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                          ">=": operator.ge}


@dataclass(frozen=True)
class Claim:
    """One checked sentence: ``value op threshold`` (``threshold`` is ``(low, high)`` for ``between``)."""

    key: str
    value: float
    op: str
    threshold: float | tuple[float, float]
    says: str
    profile: str = ""

    @property
    def holds(self) -> bool:
        if self.op == "between":
            low, high = self.threshold
            return low < self.value < high
        return COMPARISONS[self.op](self.value, self.threshold)

    @property
    def margin(self) -> float:
        """How far the value is from failing, relative to the threshold (negative: it fails)."""
        if self.op == "between":
            low, high = self.threshold
            if low > 0 and high >= 10 * low:  # "about 10⁻⁶": a range of orders of magnitude, measured in log10
                return min(math.log10(self.value / low), math.log10(high / self.value))
            return min(_relative(self.value - low, low), _relative(high - self.value, high))
        gap = self.value - self.threshold if self.op in (">", ">=") else self.threshold - self.value
        return _relative(gap, self.threshold)

    def describe(self) -> str:
        bound = (f"between {self.threshold[0]:.3g} and {self.threshold[1]:.3g}" if self.op == "between"
                 else f"{self.op} {self.threshold:.4g}")
        return f"{self.key}: {self.value:.4g} {bound} (margin {self.margin:+.1%}) — {self.says}"


def _relative(gap: float, threshold: float) -> float:
    return gap / abs(threshold) if threshold != 0 else gap


def _number(value: object, what: str) -> float:
    if isinstance(value, bool):  # float(True) is 1.0: a comparison's result passed where its value belongs
        raise TypeError(f"the claim's {what} must be a number, got a bool ({value}): pass the measured value")
    try:
        number = float(value)  # numpy and torch scalars, and one-element tensors
    except (TypeError, ValueError) as error:
        raise TypeError(f"the claim's {what} must be a number, got {type(value).__name__}: {value!r}") from error
    if not math.isfinite(number):
        raise ValueError(f"the claim's {what} must be finite, got {number}")
    return number


def claim(key: str, value: object, op: str, threshold: object, says: str, glue: bool = True,
          holds_for: Iterable[str] | None = None) -> float:
    """Assert ``value op threshold`` for the sentence ``says``; glue ``value`` as ``key``; record it; return it.

    ``op`` is one of ``<``, ``<=``, ``>``, ``>=`` or ``between`` (then ``threshold`` is ``(low, high)``, both
    exclusive). ``key`` is lowercase letters, digits and underscores, unique in the book (a test checks).
    ``holds_for`` names the profiles the claim is made for (default: all); under another it is printed as
    skipped, glued and neither asserted nor recorded.
    """
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(f"claim key {key!r}: use lowercase letters, digits and underscores, starting with a letter")
    if op not in (*COMPARISONS, "between"):
        raise ValueError(f"claim {key}: unknown comparison {op!r}; use one of {', '.join([*COMPARISONS, 'between'])}")
    if not isinstance(says, str) or not says.strip():
        raise ValueError(f"claim {key}: say which sentence of the prose it checks (says=...)")
    if op == "between":
        if not (isinstance(threshold, (tuple, list)) and len(threshold) == 2):
            raise ValueError(f"claim {key}: 'between' needs threshold=(low, high), got {threshold!r}")
        low, high = (_number(t, "threshold") for t in threshold)
        if not low < high:
            raise ValueError(f"claim {key}: 'between' needs low < high, got ({low}, {high})")
        bound: float | tuple[float, float] = (low, high)
    else:
        bound = _number(threshold, "threshold")
    from .runtime import PROFILES, get_profile

    profiles = _profiles(key, holds_for, PROFILES)
    stated = Claim(key, _number(value, "value"), op, bound, says.strip(), get_profile().name)
    if stated.profile not in profiles:
        print(f"claim {key} skipped under profile {stated.profile}: it is made for {', '.join(profiles)} "
              f"({stated.describe()})")
        if glue:
            _glue(key, stated.value)
        return stated.value
    if not stated.holds:
        raise AssertionError(f"claim {key!r} does not hold: {stated.describe()}")
    if glue:
        _glue(key, stated.value)
    _record(stated)
    return stated.value


def _profiles(key: str, holds_for: Iterable[str] | None, known: Iterable[str]) -> tuple[str, ...]:
    known = tuple(known)
    if holds_for is None:
        return known
    if isinstance(holds_for, str):  # "ci" would be read as the profiles "c" and "i"
        raise TypeError(f"claim {key}: holds_for is a list of profile names, got the string {holds_for!r}")
    profiles = tuple(holds_for)
    unknown = [name for name in profiles if name not in known]
    if not profiles or unknown:
        raise ValueError(f"claim {key}: holds_for must name at least one profile of {', '.join(known)}, "
                         f"got {list(profiles)}")
    return profiles


def number(key: str, value: object) -> float:
    """A computed number the prose shows that is not a claim (a count, a size): glued as ``key``, returned.

    ``claim`` is for what the text asserts about a measurement; ``number`` for what it only reports, so that no
    count is typed into the prose by hand (``{glue:text}`key:,.0f```)."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(f"number key {key!r}: use lowercase letters, digits and underscores, starting with a letter")
    stated = _number(value, "value")
    _glue(key, stated)
    return stated


def _glue(key: str, value: float) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # Colab installs the package without the book's tools: nothing to paste into there
        return
    glue(key, value, display=False)


def _record(stated: Claim) -> None:
    folder = os.environ.get(RECORD_VARIABLE)
    if not folder:
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{stated.key}.{os.getpid()}.json"
    staging.write_text(json.dumps(asdict(stated), ensure_ascii=False))
    os.replace(staging, folder / f"{stated.key}.json")  # atomic: a reader never sees half a record


def read_claims(folder: str | Path) -> list[Claim]:
    """The claims recorded in ``folder`` (one ``<key>.json`` each)."""
    claims = []
    for path in sorted(Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record["threshold"], list):
            record["threshold"] = tuple(record["threshold"])
        claims.append(Claim(**record))
    return claims


CALL = re.compile(r"""\bclaim\(\s*["']([a-z][a-z0-9_]*)["']""")
NUMBER_CALL = re.compile(r"""\bnumber\(\s*["']([a-z][a-z0-9_]*)["']""")


def claims_in_sources(paths: Iterable[str | Path]) -> dict[str, list[Path]]:
    """Each claim key that the code cells of these notebooks state, and the notebooks that state it."""
    import nbformat

    found: dict[str, list[Path]] = {}
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        for key in dict.fromkeys(CALL.findall(code)):
            found.setdefault(key, []).append(Path(path))
    return found


GLUE_REFERENCE = re.compile(r"\{glue:text\}`(?:[^`:]*::)?([a-z][a-z0-9_]*)[^`]*`")


def glued_sentences(paths: Iterable[str | Path]) -> dict[str, list[str]]:
    """Each glue key and the prose sentences (of notebook markdown cells or Markdown pages) that show it, so a
    reviewer reads a claim and the sentence it backs side by side."""
    import nbformat

    found: dict[str, list[str]] = {}
    for path in paths:
        path = Path(path)
        if path.suffix == ".ipynb":
            texts = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
        else:
            texts = [path.read_text(encoding="utf-8")]
        for text in texts:
            for paragraph in re.split(r"\n\s*\n", text):
                flat = " ".join(paragraph.split())
                for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z*(])", flat):
                    for key in dict.fromkeys(GLUE_REFERENCE.findall(sentence)):
                        found.setdefault(key, []).append(sentence)
    return found


def claims_table(folders: str | Path | Iterable[str | Path], notebooks: Iterable[str | Path] = (),
                 pages: Iterable[str | Path] = ()) -> tuple[str, list[str]]:
    """A markdown table of the recorded claims, thinnest margin first, and the keys stated in ``notebooks``
    but never recorded (a notebook that did not run).

    ``folders`` is one folder of records or several, one per run (fp32 and bf16, say): a claim's margin is then
    its thinnest over the runs, and each run's margin is shown. Each row carries the prose sentence that glues
    the claim's value (from ``notebooks`` and the Markdown ``pages``), or "not glued" where the prose only
    paraphrases it.
    """
    folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
    notebooks = list(notebooks)
    stated = claims_in_sources(notebooks)
    sentences = glued_sentences([*notebooks, *pages])
    runs: dict[str, dict[str, Claim]] = {}
    for folder in folders:
        for c in read_claims(folder):
            if stated and c.key not in stated:  # a record whose key no notebook states any more is stale
                continue
            runs.setdefault(c.key, {})[str(folder)] = c
    thinnest = sorted(((min(by_run.values(), key=lambda c: c.margin), by_run) for by_run in runs.values()),
                      key=lambda pair: pair[0].margin)
    several = len(folders) > 1
    header = "| margin | " + ("margins per run | " if several else "") + "notebook | claim | value | needs | says | prose |"
    rows = [header, "|---:|" + ("---|" if several else "") + "---|---|---:|---|---|---|"]
    for c, by_run in thinnest:
        where = ", ".join(str(p) for p in stated.get(c.key, [])) or "?"
        needs = (f"between {c.threshold[0]:.3g} and {c.threshold[1]:.3g}" if c.op == "between"
                 else f"{c.op} {c.threshold:.4g}")
        per_run = " / ".join(f"{Path(run).name} {r.margin:+.1%}" if r else f"{Path(run).name} —"
                             for run, r in ((str(f), by_run.get(str(f))) for f in folders))
        prose = " ⋯ ".join(sentences.get(c.key, [])).replace("|", "\\|") or "not glued"
        rows.append(f"| {c.margin:+.1%} | " + (f"{per_run} | " if several else "")
                    + f"{where} | `{c.key}` | {c.value:.4g} | {needs} | {c.says} | {prose} |")
    missing = sorted(set(stated) - set(runs))
    return "\n".join(rows), missing
