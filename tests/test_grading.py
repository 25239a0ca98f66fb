"""Grading submitted exercise notebooks (xlm-course grade): full marks, zero, partial, and notebooks that never
end, raise or cannot be read — all scored, none fatal."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from xlm_course.cli import main
from xlm_course.exercises.grading import grade_folder, tasks_of

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "exercises" / "student"
NAME = "04_math.ipynb"  # the fastest exercise notebook: five tasks, no training
TASKS = 5


def _with_code(solution: Path, replace: str, by: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(solution, as_version=4)
    cells = [cell for cell in notebook.cells if replace in cell.source]
    assert cells, replace
    cells[0].source = cells[0].source.replace(replace, by)
    return notebook


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    reference = tmp_path_factory.mktemp("reference")
    shutil.copy(STUDENT / NAME, reference / NAME)
    solution = ROOT / "exercises" / "solutions" / NAME
    for student in ("full", "empty", "mistake", "endless", "broken"):
        (folder / student).mkdir()
    shutil.copy(solution, folder / "full" / NAME)  # the model answer: full marks
    shutil.copy(STUDENT / NAME, folder / "empty" / NAME)  # handed in untouched: zero
    # the usual mistake in task 1: exponentiate without subtracting the maximum
    naive = _with_code(solution, "shifted = logits - logits.max(dim=-1, keepdim=True).values", "shifted = logits")
    nbformat.write(naive, folder / "mistake" / NAME)
    endless = nbformat.read(solution, as_version=4)  # a cell that never ends, right after task 1's check
    first_check = next(i for i, cell in enumerate(endless.cells) if cell.source.startswith("check_stable_softmax"))
    endless.cells.insert(first_check + 1, nbformat.v4.new_code_cell("while True:\n    pass", id="endless"))
    nbformat.write(endless, folder / "endless" / NAME)
    (folder / "broken" / NAME).write_text("{ this is not a notebook")
    results = grade_folder(folder, reference, time_limit=30)
    return folder, results


def score(results, student):
    mine = [r for r in results if r.student == student]
    return sum(r.passed for r in mine), len(mine)


def test_a_cohort_is_graded_full_zero_partial_and_never_fatally(cohort, tmp_path, capsys, monkeypatch):
    """One test for the whole cohort, so that its notebooks run once (pytest-xdist spreads tests, not fixtures)."""
    folder, results = cohort
    # the model answer: full marks; handed in untouched: zero, each check saying so
    assert score(results, "full") == (TASKS, TASKS)
    assert score(results, "empty") == (0, TASKS)
    assert all("not written yet" in r.feedback for r in results if r.student == "empty")
    # a typical mistake: partial marks, with the check's own feedback
    assert score(results, "mistake") == (TASKS - 1, TASKS)
    [failed] = [r for r in results if r.student == "mistake" and not r.passed]
    assert failed.task.startswith("Task 1") and failed.check == "check_stable_softmax" and "Hint:" in failed.feedback
    # a notebook that never ends keeps what it did before the time ran out; one that cannot be read scores zero
    endless = [r for r in results if r.student == "endless"]
    assert [r.passed for r in endless] == [True] + [False] * (TASKS - 1)
    assert all("time limit" in r.feedback for r in endless[1:])
    assert score(results, "broken") == (0, TASKS)
    assert all("could not be read" in r.feedback for r in results if r.student == "broken")
    # the reports: a CSV row per student and task, a markdown table of scores and every failure's feedback
    from xlm_course.exercises.grading import write_reports

    table, report = write_reports(results, tmp_path / "reports")
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == 5 * TASKS and {row["student"] for row in rows} == {"full", "empty", "mistake", "endless", "broken"}
    text = report.read_text(encoding="utf-8")
    assert "| full | 5/5 | 5/5 |" in text and "| mistake | 4/5 | 4/5 |" in text and "## Feedback" in text
    # the command line writes both (grading itself is what ran above)
    import xlm_course.exercises.grading as grading

    monkeypatch.setattr(grading, "grade_folder", lambda *args, **kwargs: results)
    assert main(["grade", str(folder), "--output", str(tmp_path / "cli")]) == 0
    assert "| full | 5/5 | 5/5 |" in capsys.readouterr().out
    assert (tmp_path / "cli" / "grades.csv").exists() and (tmp_path / "cli" / "grades.md").exists()


def test_missing_check_cells_and_bad_folders_are_reported(tmp_path):
    reference = nbformat.read(STUDENT / NAME, as_version=4)
    assert [check for _, check in tasks_of(reference)] == [
        "check_stable_softmax", "check_cross_entropy_gradient", "check_joint_objective", "check_epsilon_experiment",
        "check_temperature_experiment"]
    with pytest.raises(ValueError, match="no check cells"):
        tasks_of(nbformat.v4.new_notebook())
    with pytest.raises(FileNotFoundError, match="no student folders"):
        grade_folder(tmp_path, STUDENT)
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "notes.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="holds none of the exercise notebooks"):
        grade_folder(tmp_path, STUDENT)
