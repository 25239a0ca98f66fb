"""Student versions of the exercise notebooks: solutions out, checks in (``xlm-course student``).

The solution notebooks in ``exercises/solutions/`` are the source. Inside a code cell, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader markers) become one
``raise NotImplementedError(...)`` at the same indentation, and the lines between ``### BEGIN HIDDEN TESTS``
and ``### END HIDDEN TESTS`` (the asserts that state an experiment's outcome, for CI) are left out; in a
markdown cell, the text between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes a prompt,
and the model answer follows it in a collapsed block, to open once the learner has written theirs. The
Summary, which states the outcomes, is collapsed too. Everything else — the task statements and the cells
that call ``xlm_course.exercises`` checks — is kept, and outputs are cleared. A student notebook therefore
fails every check until the learner writes the code (CI proves it), and shows no outcome before it is
measured.

The student notebooks are committed (the book renders them and Colab opens them from GitHub);
``tests/exercises/test_exercises.py`` regenerates them and fails if anything differs from what is in git.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
TEXT_BEGIN, TEXT_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
CODE_STUB = 'raise NotImplementedError("write your solution here")'
TEXT_STUB = "*Write your answer here.*"
NOTE_ID = "student-version-note"
NOTE = ("*Your copy of the exercises. Each task's code is `raise NotImplementedError` until you write it, so "
        "every check fails until then, and says what is wrong when it does. Run it in Colab (the launch button at "
        "the top of its page in the book) or on your machine with `make lab`. After each written answer, a "
        "collapsed block holds the model answer: open it once you have written yours.*")
ANSWER_SUMMARY = "The model answer: open it once you have written yours"
SUMMARY_HEADING = re.compile(r"^##\s+Summary\b")


def _replace_regions(source: str, begin: str, end: str, where: str, stub: str | None) -> str:
    """``source`` with each ``begin`` … ``end`` region of lines replaced by ``stub`` at the region's indentation,
    or left out where ``stub`` is None; unbalanced or nested markers are an error naming the line."""
    output, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise ValueError(f"{where}, line {number}: {begin} inside another region it opened")
            inside = True
            if stub is not None:
                output.append(line[:len(line) - len(line.lstrip())] + stub)
        elif stripped == end:
            if not inside:
                raise ValueError(f"{where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            output.append(line)
    if inside:
        raise ValueError(f"{where}: {begin} is never closed by {end}")
    return "\n".join(output)


def strip_code(source: str, where: str = "a cell") -> str:
    """Replace each marked solution region of a code cell by an indented ``raise NotImplementedError``."""
    return _replace_regions(source, CODE_BEGIN, CODE_END, where, CODE_STUB)


def strip_hidden(source: str, where: str = "a cell") -> str:
    """Leave out each ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` region of a code cell."""
    return _replace_regions(source, HIDDEN_BEGIN, HIDDEN_END, where, None).rstrip("\n")


_TEXT_REGION = re.compile(re.escape(TEXT_BEGIN) + "(.*?)" + re.escape(TEXT_END), flags=re.DOTALL)


def strip_text(source: str, where: str = "a cell") -> str:
    """Replace each marked solution region of a markdown cell by a prompt."""
    if source.count(TEXT_BEGIN) != source.count(TEXT_END):
        raise ValueError(f"{where}: unbalanced {TEXT_BEGIN} / {TEXT_END}")
    return _TEXT_REGION.sub(TEXT_STUB, source)


def collapsed(text: str, summary: str) -> str:
    """``text`` in a block the reader opens (HTML ``<details>``, which Jupyter, Colab and the book render)."""
    return f"<details>\n<summary>{summary}</summary>\n\n{text.strip()}\n\n</details>"


def has_solutions(notebook: nbformat.NotebookNode) -> bool:
    return any(CODE_BEGIN in cell.source or TEXT_BEGIN in cell.source for cell in notebook.cells)


def student_version(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``notebook`` with every solution removed and every output cleared."""
    if not has_solutions(notebook):
        raise ValueError(f"{name} has no solution markers ({CODE_BEGIN} / {TEXT_BEGIN}): nothing to hide")
    student = copy.deepcopy(notebook)
    if any(cell.get("id") == NOTE_ID for cell in student.cells):
        raise ValueError(f"{name} already has a cell with id {NOTE_ID!r}: is it a student notebook already?")
    cells = []
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            stripped = strip_hidden(strip_code(cell.source, where), where)
            if cell.source.strip() and not stripped.strip():
                continue  # a cell of hidden tests only: nothing of it is the student's
            cell.source, cell.outputs, cell.execution_count = stripped, [], None
        cells.append(cell)
        if cell.cell_type == "markdown":
            answers = [answer.strip() for answer in _TEXT_REGION.findall(cell.source)]
            cell.source = strip_text(cell.source, where)
            if answers:
                cells.append(nbformat.v4.new_markdown_cell(collapsed("\n\n".join(answers), ANSWER_SUMMARY),
                                                           id=f"{cell.get('id', index)}-model-answer"))
            elif SUMMARY_HEADING.match(cell.source):  # it states every outcome: after the tasks, not before
                heading, _, body = cell.source.partition("\n")
                cell.source = collapsed(body, heading.lstrip("# ").strip() + ": open it after the tasks")
    student.cells = cells
    note = nbformat.v4.new_markdown_cell(NOTE, id=NOTE_ID)
    student.cells.insert(1, note)  # after the title, so the page says what it is
    return student


def generate(solutions: str | Path = "exercises/solutions", output: str | Path = "exercises/student") -> list[Path]:
    """Write the student version of every ``*.ipynb`` in ``solutions`` into ``output``; return their paths."""
    solutions, output = Path(solutions), Path(output)
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no solution notebooks (*.ipynb) in {solutions}")
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        student = student_version(nbformat.read(path, as_version=4), path.name)
        target = output / path.name
        nbformat.write(student, target)
        written.append(target)
    return written
