"""Student versions of the exercise notebooks: solutions out, checks in (``xlm-course student``).

The solution notebooks in ``exercises/solutions/`` are the source. Inside a code cell, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader markers) become one
``raise NotImplementedError(...)`` at the same indentation; in a markdown cell, the text between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes a prompt. Everything else — the task
statements and the cells that call ``xlm_course.exercises`` checks — is kept, and outputs are cleared. A
student notebook therefore fails every check until the learner writes the code (CI proves it).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
TEXT_BEGIN, TEXT_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
CODE_STUB = 'raise NotImplementedError("write your solution here")'
TEXT_STUB = "*Write your answer here.*"


def strip_code(source: str, where: str = "a cell") -> str:
    """Replace each marked solution region of a code cell by an indented ``raise NotImplementedError``."""
    lines, output, inside, indent = source.splitlines(), [], False, ""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == CODE_BEGIN:
            if inside:
                raise ValueError(f"{where}, line {number}: {CODE_BEGIN} inside another solution")
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            output.append(indent + CODE_STUB)
        elif stripped == CODE_END:
            if not inside:
                raise ValueError(f"{where}, line {number}: {CODE_END} without {CODE_BEGIN}")
            inside = False
        elif not inside:
            output.append(line)
    if inside:
        raise ValueError(f"{where}: {CODE_BEGIN} is never closed by {CODE_END}")
    return "\n".join(output)


def strip_text(source: str, where: str = "a cell") -> str:
    """Replace each marked solution region of a markdown cell by a prompt."""
    if source.count(TEXT_BEGIN) != source.count(TEXT_END):
        raise ValueError(f"{where}: unbalanced {TEXT_BEGIN} / {TEXT_END}")
    pattern = re.compile(re.escape(TEXT_BEGIN) + ".*?" + re.escape(TEXT_END), flags=re.DOTALL)
    return pattern.sub(TEXT_STUB, source)


def has_solutions(notebook: nbformat.NotebookNode) -> bool:
    return any(CODE_BEGIN in cell.source or TEXT_BEGIN in cell.source for cell in notebook.cells)


def student_version(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``notebook`` with every solution removed and every output cleared."""
    if not has_solutions(notebook):
        raise ValueError(f"{name} has no solution markers ({CODE_BEGIN} / {TEXT_BEGIN}): nothing to hide")
    student = copy.deepcopy(notebook)
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            cell.source = strip_code(cell.source, where)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = strip_text(cell.source, where)
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
