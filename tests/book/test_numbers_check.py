"""tools/typed_numbers.py: a number typed into the prose fails `make check-numbers`, with its file, cell and sentence."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("numbers_check", ROOT / "tools" / "typed_numbers.py")
numbers = importlib.util.module_from_spec(spec)
sys.modules["numbers_check"] = numbers  # dataclasses look their module up there
spec.loader.exec_module(numbers)

ALLOWLIST = """
patterns:
  - pattern: '(?i)\\bchapters?\\s+\\d+(\\.\\d+)*'
    reason: a chapter reference
phrases:
  page.md:
    - phrase: "α = 0.3"
      reason: a setting of the sampler
"""


def _book(tmp_path, page: str, cells: list[str] = ()) -> Path:
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\nparts:\n  - chapters:\n      - file: nb\n")
    (tmp_path / "page.md").write_text(page, encoding="utf-8")
    notebook = {"cells": [{"cell_type": "markdown", "source": text, "metadata": {}} for text in cells]
                + [{"cell_type": "code", "source": "x = 12345", "metadata": {}, "outputs": []}]}
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (tmp_path / "allow.yml").write_text(ALLOWLIST, encoding="utf-8")
    return tmp_path


def test_glued_math_code_links_names_and_listed_settings_pass(tmp_path):
    root = _book(tmp_path, "Sampling with α = 0.3 (chapter 1.2) gives {glue:text}`share:.1f`% in "
                           "$10^{-6}$ `n = 512` fp32, e5-small, AVX-512 and Q4_0; see [run 3](x.md).\n",
                 ["Here {glue:text}`n:,.0f` names.\n\n```python\nx = 42\n```\n"])
    findings, stale = numbers.check(root, root / "allow.yml")
    assert findings == [] and stale == []


def test_a_typed_result_is_named_with_its_page_cell_and_sentence(tmp_path):
    root = _book(tmp_path, "α = 0.3 is set. It trains 0.13% of its weights.\n",
                 ["Fine.\n", "The model reached about 60,000 tokens. Chapter 3 agrees.\n"])
    findings, _ = numbers.check(root, root / "allow.yml")
    assert [(f.path, f.cell, f.numeral) for f in findings] == [("page.md", None, "0.13"), ("nb.ipynb", 1, "60,000")]
    assert "about 60,000 tokens" in findings[1].sentence
    assert "nb.ipynb, cell 1: '60,000' typed in" in str(findings[1])


def test_an_allowlist_phrase_that_matches_nothing_is_stale_and_a_reason_is_required(tmp_path):
    root = _book(tmp_path, "Nothing numeric here.\n")
    _, stale = numbers.check(root, root / "allow.yml")
    assert stale == ["page.md: «α = 0.3»"]
    (root / "bad.yml").write_text("patterns: []\nphrases:\n  page.md:\n    - phrase: '12'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs a phrase and a reason"):
        numbers.check(root, root / "bad.yml")



def test_the_command_fails_on_a_typed_number_and_passes_when_it_is_glued(tmp_path, monkeypatch, capsys):
    root = _book(tmp_path, "α = 0.3. It took 25 seconds.\n")
    monkeypatch.setattr(numbers, "ROOT", root)
    assert numbers.main(["--allowlist", str(root / "allow.yml")]) == 1
    assert "page.md: '25' typed in «It took 25 seconds.»" in capsys.readouterr().out
    (root / "page.md").write_text("α = 0.3. It took {glue:text}`seconds:.0f` seconds.\n", encoding="utf-8")
    assert numbers.main(["--allowlist", str(root / "allow.yml")]) == 0


def test_the_model_answer_blocks_it_leaves_to_the_solution_notebooks_are_the_generators():
    from xlm_course.exercises.student import ANSWER_SUMMARY

    source = (Path(__file__).resolve().parents[2] / "tools" / "typed_numbers.py").read_text(encoding="utf-8")
    assert f"<summary>{ANSWER_SUMMARY}</summary>" in source
