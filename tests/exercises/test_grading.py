"""Grading submitted exercise notebooks (xlm-course grade): full marks, zero, partial; the tricks that used to pass
(an edited check cell, dead code, a rebound check) get nothing; notebooks that never end, raise or cannot be
read are scored, never fatal; and a hostile notebook, run in the sandbox, changes nothing outside it."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import socket
from pathlib import Path

import nbformat
import pytest

from xlm_course.cli import main
from xlm_course.exercises import sandbox
from xlm_course.exercises.grading import (
    TASK_HEADING,
    assemble,
    grade_folder,
    is_task_cell,
    match_notebook,
    tasks_of,
    verdict_expression,
)

ROOT = Path(__file__).resolve().parents[2]
STUDENT = ROOT / "exercises" / "student"
SOLUTIONS = ROOT / "exercises" / "solutions"
NAME = "04_math.ipynb"  # the fastest exercise notebook: five tasks, no training
TASKS = 5
ISOLATED, WHY = sandbox.isolation()


def _solution() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / NAME, as_version=4)


def _with_code(notebook: nbformat.NotebookNode, replace: str, by: str) -> nbformat.NotebookNode:
    cells = [cell for cell in notebook.cells if replace in cell.source]
    assert cells, replace
    cells[0].source = cells[0].source.replace(replace, by)
    return notebook


NAIVE = ("shifted = logits - logits.max(dim=-1, keepdim=True).values", "shifted = logits")  # task 1's usual mistake

# Code in the kernel that tries to fake the grader's verdict, each on top of task 1's usual mistake: a stdout that
# rewrites a failed verdict into a passed one, and an IPython input transformer that replaces the grader's cells
# with a forged verdict line (reading the nonce from the cell it rewrites).
REWRITING_STDOUT = """import sys as _s
class _Rewriter:
    def __init__(self, stream): self._stream = stream
    def write(self, text): return self._stream.write(text.replace('"passed": false', '"passed": true'))
    def __getattr__(self, name): return getattr(self._stream, name)
_s.stdout = _Rewriter(_s.stdout)

"""
FORGING_TRANSFORMER = """import json as _json, re as _re
def _forge(lines):
    source = "".join(lines)
    nonce, check = _re.search(r"verdict'?\\]?\\('([0-9a-f]{16})'", source), _re.search(r"'(check_\\w+)'", source)
    if not (nonce and check):
        return lines
    line = _json.dumps({"check": check.group(1), "passed": True, "feedback": "correct"})
    return [f"print({('XLM-COURSE-VERDICT ' + nonce.group(1) + ' ' + line)!r})\\n"]
get_ipython().input_transformers_post.append(_forge)

"""
# Right on the notebook's three inputs (the answers it expects), the naive formula on any other
MEMORISED = """_NOTEBOOKS_INPUTS = ([[1.0, 2.0, 3.0]], [[1000.0, 1001.0, 1002.0]], [[-1000.0, 0.0, 1000.0], [5.0, 5.0, 5.0]])

"""


def _hostile(folder: Path, port: int) -> nbformat.NotebookNode:
    """The model answer, plus a cell that tries what a hostile submission would, printing what it got."""
    notebook = _solution()
    victim = folder / "mistake" / NAME
    attack = f'''
import os, socket
outcome = {{}}
for target in ("/hostile-at-root", {str(Path.home() / "hostile-home")!r}, {str(victim)!r}):
    try:
        open(target, "w").write("overwritten by another student")
        outcome[target] = "written"
    except OSError as error:
        outcome[target] = type(error).__name__
outcome["secret"] = os.environ.get("XLM_GRADER_SECRET", "unreadable")
for environ in __import__("glob").glob("/proc/[0-9]*/environ"):  # another process's environment, the grader's
    try:
        if b"token-of-the-grader" in open(environ, "rb").read():
            outcome["secret"] = "read from " + environ
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    outcome["loopback"] = "connected"
except OSError as error:
    outcome["loopback"] = type(error).__name__
try:
    hoard = bytearray(8 * 1024**3)
    outcome["memory"] = "allocated"
except MemoryError:
    outcome["memory"] = "MemoryError"
print("HOSTILE", outcome)
'''
    notebook.cells.insert(3, nbformat.v4.new_code_cell(attack, id="attack"))
    return notebook


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    reference = tmp_path_factory.mktemp("reference")
    shutil.copy(STUDENT / NAME, reference / NAME)
    names = ("full", "empty", "mistake", "endless", "broken", "try-except", "dead-code", "rebound",
             "rewriting-stdout", "forging-transformer", "memorised", *(("hostile",) if ISOLATED else ()))  # without a sandbox, a hostile notebook would do what it tries
    for student in names:
        (folder / student).mkdir()
    shutil.copy(SOLUTIONS / NAME, folder / "full" / "Copy of 04_math.ipynb")  # the model answer, as Colab names it
    shutil.copy(STUDENT / NAME, folder / "empty" / NAME)  # handed in untouched: zero
    nbformat.write(_with_code(_solution(), *NAIVE), folder / "mistake" / NAME)
    endless = _solution()  # a cell that never ends, right after task 1's check
    first_check = next(i for i, cell in enumerate(endless.cells) if cell.source.startswith("check_stable_softmax"))
    endless.cells.insert(first_check + 1, nbformat.v4.new_code_cell("while True:\n    pass", id="endless"))
    nbformat.write(endless, folder / "endless" / NAME)
    (folder / "broken" / NAME).write_text("{ this is not a notebook")
    # the tricks that used to pass a wrong answer: the usual mistake, then an edited check cell, a check cell
    # that prints "✓" and never calls the check, and a task cell that rebinds the check to a no-op
    tricked = _with_code(_solution(), *NAIVE)
    _with_code(tricked, "check_stable_softmax(softmax)",
               "try:\n    check_stable_softmax(softmax)\nexcept Exception:\n    print('✓ a stable softmax: correct')")
    nbformat.write(tricked, folder / "try-except" / NAME)
    nbformat.write(_with_code(_with_code(_solution(), *NAIVE), "check_stable_softmax(softmax)",
                              "print('✓ a stable softmax: correct')\nif False:\n    check_stable_softmax(softmax)"),
                   folder / "dead-code" / NAME)
    rebound = _with_code(_solution(), *NAIVE)
    _with_code(rebound, "def softmax(logits):", "import xlm_course.exercises.checks as checks\n"
               "checks.check_stable_softmax = check_stable_softmax = lambda function: print('✓ correct')\n\n"
               "def softmax(logits):")
    nbformat.write(rebound, folder / "rebound" / NAME)
    for student, attack in (("rewriting-stdout", REWRITING_STDOUT), ("forging-transformer", FORGING_TRANSFORMER)):
        nbformat.write(_with_code(_with_code(_solution(), *NAIVE), "def softmax(logits):", f"{attack}def softmax(logits):"),
                       folder / student / NAME)
    memorised = _with_code(_solution(), "def softmax(logits):", f"{MEMORISED}def softmax(logits):")
    _with_code(memorised, "    shifted = logits - logits.max(dim=-1, keepdim=True).values",
               "    shifted = logits - logits.max(dim=-1, keepdim=True).values if logits.tolist() in _NOTEBOOKS_INPUTS "
               "else logits")
    nbformat.write(memorised, folder / "memorised" / NAME)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    if ISOLATED:
        nbformat.write(_hostile(folder, listener.getsockname()[1]), folder / "hostile" / NAME)
    (folder / "full" / "notes.txt").write_text("not a notebook")
    (folder / "full" / "draft.ipynb").write_text("{}")  # matches no exercise notebook: noted, not fatal
    victim = (folder / "mistake" / NAME).read_bytes()
    os.environ["XLM_GRADER_SECRET"] = "token-of-the-grader"
    try:
        grading = grade_folder(folder, reference, time_limit=120, isolate=ISOLATED, jobs=2,
                               limits=sandbox.Limits(memory_gib=6), executed=folder / "executed")
    finally:
        del os.environ["XLM_GRADER_SECRET"]
    try:
        listener.accept()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    return folder, grading, victim, connected, names, reference


def score(results, student):
    mine = [r for r in results if r.student == student]
    return sum(r.passed for r in mine), len(mine)


def test_a_cohort_is_graded_full_zero_partial_and_never_fatally(cohort, tmp_path, capsys, monkeypatch):
    """One test for the whole cohort, so that its notebooks run once (pytest-xdist spreads tests, not fixtures)."""
    folder, grading, _, _, names, _ = cohort
    results = grading.results
    # the model answer (named as Colab names a copy): full marks; handed in untouched: zero, each check saying so
    assert score(results, "full") == (TASKS, TASKS)
    assert {r.notebook for r in results} == {NAME}
    assert score(results, "empty") == (0, TASKS)
    assert all("not written yet" in r.feedback for r in results if r.student == "empty")
    # a typical mistake: partial marks, with the check's own feedback, under the reference's task title
    assert score(results, "mistake") == (TASKS - 1, TASKS)
    [failed] = [r for r in results if r.student == "mistake" and not r.passed]
    assert failed.task.startswith("Task 1") and failed.check == "check_stable_softmax" and "Hint:" in failed.feedback
    assert [r.task for r in results if r.student == "full"][3].startswith("Task 4 (experiment)")
    # a notebook that never ends keeps what it did before the time ran out; one that cannot be read scores zero
    endless = [r for r in results if r.student == "endless"]
    assert [r.passed for r in endless] == [True] + [False] * (TASKS - 1)
    assert all("time limit" in r.feedback for r in endless[1:])
    assert score(results, "broken") == (0, TASKS)
    assert all("could not be read" in r.feedback for r in results if r.student == "broken")
    # the reports: a CSV row per student and task, a markdown table of scores, every failure's feedback, the flags
    from xlm_course.exercises.grading import write_reports

    table, report = write_reports(results, tmp_path / "reports", grading.notes)
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == len(names) * TASKS
    text = report.read_text(encoding="utf-8")
    assert "| full | 5/5 | 5/5 |" in text and "| mistake | 4/5 | 4/5 |" in text and "## Feedback" in text
    assert "full/draft.ipynb matches none of the exercise notebooks" in text
    # the wide gradebook (a row per student, a column per task) and a feedback file per student
    book = list(csv.reader((tmp_path / "reports" / "gradebook.csv").open(encoding="utf-8")))
    assert book[0][0] == "Student" and book[0][1] == "04_math: Task 1: a stable softmax" and book[0][-2:] == ["Total", "Out of"]
    assert {row[0]: row[-2:] for row in book[1:]}["mistake"] == [str(TASKS - 1), str(TASKS)]
    letter = (tmp_path / "reports" / "feedback" / "mistake.md").read_text(encoding="utf-8")
    assert "4 of 5 tasks passed" in letter and "✗ Task 1: a stable softmax" in letter and "Hint:" in letter
    # the executed notebooks are kept, for appeals
    assert len(list((folder / "executed" / "full").glob("04_math-*.ipynb"))) == 1
    # the command line writes both (grading itself is what ran above)
    import xlm_course.exercises.grading as grading_module

    monkeypatch.setattr(grading_module, "grade_folder", lambda *args, **kwargs: grading)
    assert main(["grade", str(folder), "--output", str(tmp_path / "cli")]) == 0
    assert "| full | 5/5 | 5/5 |" in capsys.readouterr().out
    assert (tmp_path / "cli" / "grades.csv").exists() and (tmp_path / "cli" / "grades.md").exists()


def test_the_tricks_that_passed_a_wrong_answer_pass_nothing(cohort):
    """An edited check cell (try/except), a check that never runs (dead code) and a rebound check: the grader
    runs the reference's check cells, and calls each check itself, loaded afresh."""
    _, grading, _, _, _, _ = cohort
    for student in ("try-except", "dead-code", "rebound"):
        assert score(grading.results, student) == (TASKS - 1, TASKS), student
        [failed] = [r for r in grading.results if r.student == student and not r.passed]
        assert failed.check == "check_stable_softmax" and "Hint:" in failed.feedback
    rebound = {r.flags for r in grading.results if r.student == "rebound"}
    assert rebound == {"cell cell-04 uses xlm_course"}  # reaching into the course package is flagged for the instructor


def test_code_that_fakes_the_verdict_from_inside_the_kernel_passes_nothing(cohort):
    """A rewritten stdout and an input transformer that forges the verdict line scored 5/5 on a wrong answer when
    the verdict was a cell's printed output; sent as a signed user expression, each scores what its mistake does."""
    _, grading, _, _, _, _ = cohort
    for student, flag in (("rewriting-stdout", "stdout"), ("forging-transformer", "get_ipython")):
        assert score(grading.results, student) == (TASKS - 1, TASKS), student
        [failed] = [r for r in grading.results if r.student == student and not r.passed]
        assert failed.check == "check_stable_softmax" and "Hint:" in failed.feedback, failed
        assert {r.flags for r in grading.results if r.student == student} == {f"cell cell-04 uses {flag}"}


def test_code_that_answers_only_the_notebooks_cases_fails_the_hidden_ones(cohort):
    _, grading, _, _, _, _ = cohort
    assert score(grading.results, "memorised") == (TASKS - 1, TASKS)
    [failed] = [r for r in grading.results if r.student == "memorised" and not r.passed]
    assert failed.check == "check_stable_softmax"
    assert "passes the notebook's cases but not the grader's hidden ones" in failed.feedback and "Hint:" in failed.feedback
    assert grading.seed is not None and (grading.seed == int((cohort[0] / "executed" / ".hidden-seed").read_text()))


def test_an_honest_solution_is_never_flagged():
    """The flags are for code that reaches into the checks or the kernel: no model answer may raise one."""
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        reference = nbformat.read(STUDENT / path.name, as_version=4)
        _, missing, flags = assemble(reference, nbformat.read(path, as_version=4), "n0", "ab")
        assert not missing and not flags, (path.name, flags)


@pytest.mark.skipif(not ISOLATED, reason=f"no sandbox on this machine: {WHY}")
def test_a_hostile_notebook_changes_nothing_outside_its_sandbox(cohort):
    folder, grading, victim, connected, _, _ = cohort
    assert score(grading.results, "hostile") == (TASKS, TASKS)  # its answers are right: the attack costs nothing
    assert score(grading.results, "mistake") == (TASKS - 1, TASKS)  # the next student's grade is unchanged
    assert (folder / "mistake" / NAME).read_bytes() == victim
    assert not Path("/hostile-at-root").exists() and not (Path.home() / "hostile-home").exists()
    assert not connected
    [executed] = (folder / "executed" / "hostile").glob("04_math-*.ipynb")
    attack = next(cell for cell in nbformat.read(executed, as_version=4).cells if cell.get("id") == "attack")
    printed = "".join(output.get("text", "") for output in attack.outputs)
    assert "'secret': 'unreadable'" in printed and "connected" not in printed
    assert "'memory': 'MemoryError'" in printed and "written" not in printed


def test_without_a_sandbox_the_grader_refuses_unless_told(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "isolation", lambda: (False, "no namespaces here"))
    (tmp_path / "alice").mkdir()
    shutil.copy(SOLUTIONS / NAME, tmp_path / "alice" / NAME)
    with pytest.raises(RuntimeError, match="cannot isolate the submissions here: no namespaces here.*--unsafe-no-sandbox"):
        grade_folder(tmp_path, STUDENT, time_limit=30)


def test_grading_refuses_to_start_on_a_cold_cache_and_says_what_to_run(monkeypatch, tmp_path):
    import xlm_course.pretraining as pretraining

    monkeypatch.setattr(pretraining, "is_pretrained", lambda *args, **kwargs: False)
    (tmp_path / "alice").mkdir()
    shutil.copy(STUDENT / "09_faq.ipynb", tmp_path / "alice" / "09_faq.ipynb")  # it loads chapter 3's encoder
    with pytest.raises(RuntimeError, match=r"not in the cache .*chapter 3's encoder.*Run `make warm-cache`"):
        grade_folder(tmp_path, STUDENT, time_limit=30, isolate=False)


def test_task_titles_come_from_the_reference_in_every_exercise_notebook():
    for path in sorted(STUDENT.glob("*.ipynb")):
        reference = nbformat.read(path, as_version=4)
        headings = [h for cell in reference.cells if cell.cell_type == "markdown"
                    for h in TASK_HEADING.findall(cell.source)]
        titles = [title for title, _ in tasks_of(reference)]
        assert all(title.startswith("Task ") for title in titles), (path.name, titles)
        assert set(titles) <= set(h.strip() for h in headings)
        assert any(is_task_cell(cell) for cell in reference.cells)


def test_assemble_keeps_the_students_answers_and_added_cells_and_nothing_else():
    reference = nbformat.read(STUDENT / NAME, as_version=4)
    submitted = _solution()
    _with_code(submitted, "import torch", "import torch  # edited given cell")
    submitted.cells.insert(5, nbformat.v4.new_code_cell("helper = 1", id="mine"))
    del submitted.cells[[c.get("id") for c in submitted.cells].index("cell-07")]  # task 2's answer deleted
    graded, missing, _ = assemble(reference, submitted, "abc123", "ab")
    sources = {cell.get("id"): cell.source for cell in graded.cells}
    assert "edited given cell" not in sources["cell-02"]
    assert "### BEGIN SOLUTION" in sources["cell-04"]  # the student's answer to task 1
    assert missing == ["cell-07"] and "NotImplementedError" in sources["cell-07"]
    assert "mine" in sources and sources["cell-05"].startswith("# the grader's check")
    order = [cell.get("id") for cell in graded.cells]
    assert order.index("mine") == order.index("cell-04") + 1


def test_a_check_cell_must_be_one_call():
    expression = verdict_expression("check_attention(attention, mask=m)", "n0", "ab", 7)
    assert "['verdict']('n0', 'ab', 'check_attention', lambda: ((attention, ), dict(mask=m)), 7)" in expression
    compile(expression, "<verdict>", "eval")  # one expression: what a user expression must be
    with pytest.raises(ValueError, match="one call"):
        verdict_expression("x = check_attention(attention)\nprint(x)", "n0", "ab")


@pytest.mark.parametrize(("filename", "expected"), [
    ("04_math.ipynb", NAME), ("Copy of 04_math.ipynb", NAME), ("04_math (1).ipynb", NAME),
    ("Copy of Copy of 04_math (2).ipynb", NAME), ("04_MATH.ipynb", NAME), ("notes.ipynb", None),
    ("04_math_v2.ipynb", None)])
def test_handed_in_names_are_matched_loosely(filename, expected):
    assert match_notebook(filename, [NAME, "06_applications.ipynb"]) == expected


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
    with pytest.raises(ValueError, match="holds any of the exercise notebooks"):
        grade_folder(tmp_path, STUDENT)
    with pytest.raises(ValueError, match="--notebooks '07_nothing' is none of the exercise notebooks"):
        grade_folder(tmp_path, STUDENT, notebooks=["07_nothing"])


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="Limits.memory_gib must be a positive number"):
        sandbox.Limits(memory_gib=0)


def test_the_executed_notebooks_are_named_by_content(cohort):
    folder, _, _, _, _, _ = cohort
    [kept] = (folder / "executed" / "mistake").glob("*.ipynb")
    digest = hashlib.sha256((folder / "mistake" / NAME).read_bytes()).hexdigest()[:12]
    assert kept.name == f"04_math-{digest}.ipynb"


def test_the_instructors_page_states_the_sandboxs_defaults():
    page = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    assert "(`--memory-gib`, 12 by default)" in page and sandbox.Limits().memory_gib == 12


def test_points_per_task_come_from_the_notebooks_metadata_and_count_in_every_report(tmp_path):
    from xlm_course.exercises.grading import CheckResult, points_of, write_reports

    reference = nbformat.read(STUDENT / NAME, as_version=4)
    assert set(points_of(reference).values()) == {1.0}
    reference.metadata["xlm_course"] = {"points": {"check_epsilon_experiment": 3}}
    assert points_of(reference)["check_epsilon_experiment"] == 3.0
    reference.metadata["xlm_course"] = {"points": {"check_attention": 2}}
    with pytest.raises(ValueError, match="check_attention, which no check cell calls"):
        points_of(reference)
    reference.metadata["xlm_course"] = {"points": {"check_stable_softmax": 0}}
    with pytest.raises(ValueError, match="must be a positive number"):
        points_of(reference)
    results = [CheckResult("bob", NAME, "Task 1: a", "check_a", False, "✗ wrong\n  Hint: x", points=2),
               CheckResult("bob", NAME, "Task 2: b", "check_b", True, "correct")]
    write_reports(results, tmp_path)
    assert "| bob | 1/3 | 1/3 |" in (tmp_path / "grades.md").read_text(encoding="utf-8")
    assert (tmp_path / "gradebook.csv").read_text(encoding="utf-8").splitlines()[1] == "bob,0,1,1,3"
    assert "(1/3 points)" in (tmp_path / "feedback" / "bob.md").read_text(encoding="utf-8")


def test_an_unchanged_submission_is_not_run_again_and_one_student_can_be_graded(cohort, monkeypatch):
    import xlm_course.exercises.grading as grading_module

    folder, grading, _, _, _, reference = cohort
    monkeypatch.setattr(grading_module, "grade_notebook", lambda *args, **kwargs: pytest.fail("ran again"))
    again = grade_folder(folder, reference, time_limit=120, isolate=ISOLATED, executed=folder / "executed",
                         students=["mistake", "full"])
    assert again.results == [r for r in grading.results if r.student in ("full", "mistake")]
    with pytest.raises(ValueError, match="no folder for carol"):
        grade_folder(folder, reference, students=["carol"], isolate=ISOLATED)
    with pytest.raises(ValueError, match="jobs must be a positive int"):
        grade_folder(folder, reference, jobs=0, isolate=ISOLATED)


def test_a_reference_pinned_to_another_release_is_noted():
    from xlm_course import __version__
    from xlm_course.exercises.grading import release_notes

    reference = nbformat.read(STUDENT / NAME, as_version=4)
    assert release_notes({NAME: reference}) == []  # the committed notebooks pin the installed release
    [colab] = [cell for cell in reference.cells if "google.colab" in cell.source]
    colab.source = colab.source.replace(f"@v{__version__}", "@v9.9.9")
    [note] = release_notes({NAME: reference})
    assert "installs xlm-course v9.9.9 in Colab" in note and f"grader runs {__version__}" in note


def test_a_damaged_hidden_seed_file_is_refused_with_what_to_do(tmp_path):
    from xlm_course.exercises.grading import class_seed

    seed = class_seed(tmp_path, None)  # a new seed, kept
    assert class_seed(tmp_path, None) == seed and class_seed(None, 7) == 7
    (tmp_path / ".hidden-seed").write_text("not a seed")
    with pytest.raises(ValueError, match="should hold the class's hidden-case seed.*--hidden-seed N"):
        class_seed(tmp_path, None)
    with pytest.raises(ValueError, match="non-negative int"):
        class_seed(tmp_path, -1)
