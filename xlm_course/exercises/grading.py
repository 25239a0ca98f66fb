"""Grading submitted exercise notebooks for instructors (``xlm-course grade FOLDER``; book/instructors.md).

A submission folder holds one folder per student, each with that student's copies of the exercise notebooks
(``alice/04_math.ipynb``, ...). Every notebook runs top to bottom in a fresh kernel, offline, within a time
limit for the whole notebook, with errors allowed, so that one broken cell does not hide the rest. Each
check cell (a cell that calls a ``check_...`` function) is then scored from its own output: ``✓`` is a
pass, and an ``ExerciseFailed`` error is a fail whose message (what was wrong, and a hint) becomes the
feedback. A check cell that the student deleted, that never ran because the time ran out, or that failed on
another error is a fail that says which. A notebook that cannot be read, never ends or crashes its kernel is
scored like that, not fatal: the grader always writes its table.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECK_CALL = re.compile(r"^\s*(check_\w+)\(", flags=re.MULTILINE)
TASK_HEADING = re.compile(r"^##\s+(Task\s+\d+:.*)$", flags=re.MULTILINE)
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class CheckResult:
    """One student's result on one task of one notebook."""

    student: str
    notebook: str
    task: str
    check: str
    passed: bool
    feedback: str


def tasks_of(reference: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(task title, check function) for every check cell of a reference notebook, in order."""
    tasks, title = [], "before the first task"
    for cell in reference.cells:
        if cell.cell_type == "markdown" and (heading := TASK_HEADING.search(cell.source)):
            title = heading.group(1).strip()
        elif cell.cell_type == "code" and "import" not in cell.source:
            tasks.extend((title, name) for name in CHECK_CALL.findall(cell.source))
    if not tasks:
        raise ValueError("the reference notebook has no check cells (cells calling check_...): nothing to grade")
    return tasks


def _execute(notebook: nbformat.NotebookNode, time_limit: float, folder: Path) -> str:
    """Run ``notebook`` in place, cell by cell, within ``time_limit`` seconds in all; return '' if it ran to the
    end, else why it stopped. Each cell may use what the earlier ones left of the budget."""
    from nbclient.exceptions import CellTimeoutError

    client = NotebookClient(notebook, timeout=time_limit, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    previous = {key: os.environ.get(key) for key in OFFLINE}
    os.environ.update(OFFLINE)  # the kernel inherits the grader's environment: no hub, no download
    deadline = time.monotonic() + time_limit
    limit = f"the notebook did not finish within the time limit ({time_limit:g} s)"
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                client.timeout = max(1, int(deadline - time.monotonic()))
                if time.monotonic() >= deadline:
                    return limit
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    return limit
        return ""
    except Exception as error:  # a dead kernel, a notebook nbclient cannot run
        first_line = str(error).splitlines()[0] if str(error) else ""
        return f"the notebook stopped: {type(error).__name__}: {first_line}"
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _score_cell(cell: nbformat.NotebookNode, stopped: str) -> tuple[bool, str]:
    errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
    if errors:
        error = errors[0]
        if error.ename == "ExerciseFailed":
            return False, error.evalue
        return False, f"the check could not run: {error.ename}: {error.evalue}"
    text = "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")
    if "✓" in text:
        return True, text.strip()
    if cell.get("execution_count") is None:
        return False, f"not run: {stopped or 'the notebook stopped before this check'}"
    return False, "the check printed no result"


def grade_notebook(path: str | Path, reference: nbformat.NotebookNode, student: str,
                   time_limit: float = 300) -> list[CheckResult]:
    """Run one submitted notebook and score each of the reference's checks in it."""
    path = Path(path)
    tasks = tasks_of(reference)
    try:
        submitted = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook
        reason = f"the file could not be read as a notebook: {type(error).__name__}"
        return [CheckResult(student, path.name, task, check, False, reason) for task, check in tasks]
    with tempfile.TemporaryDirectory(prefix="xlm-course-grade-") as folder:
        stopped = _execute(submitted, time_limit, Path(folder))
    cells = {name: cell for cell in submitted.cells if cell.cell_type == "code"
             for name in CHECK_CALL.findall(cell.source)}
    results = []
    for task, check in tasks:
        if check not in cells:
            results.append(CheckResult(student, path.name, task, check, False,
                                       f"the cell calling {check} is missing from the notebook"))
            continue
        passed, feedback = _score_cell(cells[check], stopped)
        results.append(CheckResult(student, path.name, task, check, passed, feedback))
    return results


def grade_folder(folder: str | Path, reference_folder: str | Path = "exercises/student",
                 time_limit: float = 300) -> list[CheckResult]:
    """Grade every ``<student>/<notebook>.ipynb`` in ``folder`` whose name is a reference notebook's.

    A reference notebook that a student did not hand in scores zero on its tasks ("not submitted")."""
    folder, reference_folder = Path(folder), Path(reference_folder)
    references = {path.name: nbformat.read(path, as_version=4) for path in sorted(reference_folder.glob("*.ipynb"))}
    if not references:
        raise FileNotFoundError(f"no reference notebooks (*.ipynb) in {reference_folder}")
    students = sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not students:
        raise FileNotFoundError(f"no student folders in {folder}: expected {folder}/<student>/<notebook>.ipynb")
    results = []
    for student in students:
        handed_in = {path.name for path in student.glob("*.ipynb")}
        if not handed_in & set(references):
            raise ValueError(f"{student} holds none of the exercise notebooks ({', '.join(references)})")
        for name, reference in references.items():
            if name in handed_in:
                results.extend(grade_notebook(student / name, reference, student.name, time_limit))
            elif handed_in:
                results.extend(CheckResult(student.name, name, task, check, False, "not submitted")
                               for task, check in tasks_of(reference))
    return results


def write_reports(results: Sequence[CheckResult], output: str | Path) -> tuple[Path, Path]:
    """``grades.csv`` (one row per student and task) and ``grades.md`` (scores, then every failure's feedback)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    table = output / "grades.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CheckResult.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(result) for result in results)
    notebooks = sorted({r.notebook for r in results})
    lines = ["# Grades", "", "| student | " + " | ".join(notebooks) + " | total |",
             "|---|" + "---:|" * (len(notebooks) + 1)]
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student]
        cells = []
        for notebook in notebooks:
            part = [r for r in mine if r.notebook == notebook]
            cells.append(f"{sum(r.passed for r in part)}/{len(part)}")
        lines.append(f"| {student} | " + " | ".join(cells) + f" | {sum(r.passed for r in mine)}/{len(mine)} |")
    lines += ["", "## Feedback", ""]
    for r in results:
        if not r.passed:
            feedback = " ".join(r.feedback.split())
            lines.append(f"* **{r.student}**, {r.notebook}, {r.task} (`{r.check}`): {feedback}")
    report = output / "grades.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table, report
