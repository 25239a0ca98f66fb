"""Claims (xlm_course.claims): asserted, glued, recorded, and listed with their margins by `make claims`."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlm_course.claims import (
    CALL,
    NUMBER_CALL,
    Claim,
    claim,
    claims_in_sources,
    claims_table,
    number,
    read_claims,
)
from xlm_course.cli import main
from xlm_course.runtime import COURSE_ENCODER_PROFILES, PROFILES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*/*.ipynb"))
PAGES = sorted((ROOT / "chapters").glob("*/*.md")) + sorted((ROOT / "book").glob("*.md"))
GLUE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")


def test_a_claim_that_holds_returns_its_value_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("XLM_COURSE_CLAIMS", str(tmp_path))
    assert claim("bleu_test", 7.5, "<", 10, "BLEU stays in single digits", glue=False) == 7.5
    [recorded] = read_claims(tmp_path)
    assert recorded == Claim("bleu_test", 7.5, "<", 10.0, "BLEU stays in single digits", "ci")
    assert recorded.margin == pytest.approx(0.25)


def test_a_claim_that_fails_says_what_was_claimed_and_measured():
    with pytest.raises(AssertionError, match=r"claim 'bleu_test' does not hold: bleu_test: 12 < 10 .*single digits"):
        claim("bleu_test", 12, "<", 10, "BLEU stays in single digits", glue=False)


def test_about_an_order_of_magnitude_is_between_and_its_margin_is_in_decades():
    assert claim("parity", 2e-6, "between", (1e-7, 1e-5), "about 10⁻⁶", glue=False) == 2e-6
    stated = Claim("parity", 2e-6, "between", (1e-7, 1e-5), "about 10⁻⁶")
    assert stated.margin == pytest.approx(math.log10(1e-5 / 2e-6))
    with pytest.raises(AssertionError, match="between 1e-07 and 1e-05"):
        claim("parity", 3e-4, "between", (1e-7, 1e-5), "about 10⁻⁶", glue=False)


@pytest.mark.parametrize(("arguments", "error", "message"), [
    (("Bad-Key", 1, "<", 2, "x"), ValueError, "lowercase letters"),
    (("k", 1, "!=", 2, "x"), ValueError, "unknown comparison '!='"),
    (("k", 1, "<", 2, " "), ValueError, "which sentence"),
    (("k", "high", "<", 2, "x"), TypeError, "value must be a number, got str"),
    (("k", float("nan"), "<", 2, "x"), ValueError, "must be finite"),
    (("k", True, ">", 0, "x"), TypeError, "got a bool"),
    (("k", 1, "between", 2, "x"), ValueError, r"needs threshold=\(low, high\)"),
    (("k", 1, "between", (3, 2), "x"), ValueError, "low < high"),
])
def test_bad_claims_are_refused_with_what_is_accepted(arguments, error, message):
    with pytest.raises(error, match=message):
        claim(*arguments, glue=False)


def test_a_claim_made_for_other_profiles_is_printed_as_skipped_and_not_asserted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XLM_COURSE_CLAIMS", str(tmp_path))
    monkeypatch.setenv("XLM_COURSE_PROFILE", "hub")
    assert claim("own_encoder_gain", -3.0, ">", 5, "the course's encoder gains", glue=False,
                 holds_for=COURSE_ENCODER_PROFILES) == -3.0  # false, but not made for hub: no AssertionError
    assert "claim own_encoder_gain skipped under profile hub: it is made for ci, colab" in capsys.readouterr().out
    assert read_claims(tmp_path) == []  # a skipped claim is not a measurement of the claim
    monkeypatch.setenv("XLM_COURSE_PROFILE", "ci")
    with pytest.raises(AssertionError, match="own_encoder_gain"):
        claim("own_encoder_gain", -3.0, ">", 5, "the course's encoder gains", glue=False,
              holds_for=COURSE_ENCODER_PROFILES)


def test_the_course_encoder_profiles_are_those_without_hub_checkpoints():
    assert COURSE_ENCODER_PROFILES == ("ci", "colab")
    assert all(not PROFILES[name].uses_hub_checkpoints for name in COURSE_ENCODER_PROFILES)


@pytest.mark.parametrize(("holds_for", "error", "message"), [
    ("ci", TypeError, "a list of profile names, got the string 'ci'"),
    ((), ValueError, "at least one profile of ci, colab, hub"),
    (("ci", "gpu"), ValueError, r"got \['ci', 'gpu'\]"),
])
def test_holds_for_must_name_known_profiles(holds_for, error, message):
    with pytest.raises(error, match=message):
        claim("k", 1, "<", 2, "x", glue=False, holds_for=holds_for)


def test_glue_works_outside_a_notebook_too():
    assert claim("glued", 1.0, ">", 0.5, "a glued value", glue=True) == 1.0
    assert number("train_emoji", 1496) == 1496.0
    with pytest.raises(ValueError, match="lowercase"):
        number("Train Emoji", 1)
    with pytest.raises(TypeError, match="must be a number"):
        number("train_emoji", "many")


@given(value=st.floats(-1e6, 1e6), threshold=st.floats(-1e6, 1e6), op=st.sampled_from(["<", "<=", ">", ">="]))
def test_a_positive_margin_means_the_claim_holds(value, threshold, op):
    stated = Claim("k", value, op, threshold, "x")
    if stated.margin > 0:
        assert stated.holds
    if stated.margin < 0:
        assert not stated.holds


def test_the_table_is_thinnest_first_and_names_unrecorded_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("XLM_COURSE_CLAIMS", str(tmp_path / "claims"))
    claim("wide", 0.9, ">", 0.5, "far above", glue=False)
    claim("thin", 0.51, ">", 0.5, "just above", glue=False)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'claim("wide", x, ">", 0.5, "far above")\nclaim("thin", y, ">", 0.5, "just above")\n'
        'claim("never_run", z, "<", 1, "not run")')])
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, path)
    table, missing = claims_table(tmp_path / "claims", [path])
    lines = table.splitlines()
    assert "`thin`" in lines[2] and "`wide`" in lines[3] and "+2.0%" in lines[2] and str(path) in lines[2]
    assert missing == ["never_run"]
    assert main(["claims", "--folder", str(tmp_path / "empty")]) == 1


def test_the_table_takes_each_claims_thinnest_run_and_shows_the_sentence_that_glues_it(tmp_path, monkeypatch):
    for run, value in (("fp32", 0.9), ("bf16", 0.55)):
        monkeypatch.setenv("XLM_COURSE_CLAIMS", str(tmp_path / run))
        claim("share", value, ">", 0.5, "more than half", glue=False)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('claim("share", x, ">", 0.5, "more than half")'),
        nbformat.v4.new_markdown_cell("Intro. The picture gets {glue:text}`share:.2f` of the vector. Next one.")])
    path = tmp_path / "page.ipynb"
    nbformat.write(notebook, path)
    table, missing = claims_table([tmp_path / "fp32", tmp_path / "bf16"], [path])
    row = table.splitlines()[2]
    assert "| +10.0% | fp32 +80.0% / bf16 +10.0% |" in row and missing == []
    assert "The picture gets {glue:text}`share:.2f` of the vector." in row and "Next one" not in row


def test_every_claim_key_is_stated_in_one_notebook_only():
    stated = claims_in_sources(NOTEBOOKS)
    numbers: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for key in set(NUMBER_CALL.findall(code)):
            numbers.setdefault(key, []).append(path.name)
    assert not {key for key, paths in numbers.items() if len(paths) > 1} and not set(numbers) & set(stated)
    twice = {key: [p.name for p in paths] for key, paths in stated.items() if len(paths) > 1}
    assert not twice, f"claim keys must be unique in the book (glue references name them): {twice}"
    assert len(stated) >= 20


def _glued_keys(path: Path) -> set[str]:
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return set(CALL.findall(code)) | set(NUMBER_CALL.findall(code))


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_glue_reference_names_a_value_its_notebook_glues(path):
    """The check build runs nothing, so it cannot see a glue key that no notebook defines: this test does."""
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    for reference in GLUE.findall(text):
        target, _, key = reference.rpartition("::")
        key = key.split(":")[0]
        source = (path.parent / target).resolve() if target else path
        assert source.suffix == ".ipynb" and source.exists(), f"{path.name}: glue from {target!r}, not a notebook"
        assert key in _glued_keys(source), f"{path.name}: {key!r} is not glued by {source.name}"
