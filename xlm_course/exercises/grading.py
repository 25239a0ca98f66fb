"""Grading submitted exercise notebooks for instructors (``xlm-course grade FOLDER``; book/instructors.md).

A submission folder holds one folder per student, each with that student's copies of the exercise notebooks
(``alice/04_math.ipynb``, or Colab's ``Copy of 04_math.ipynb``). Grading a notebook the student has edited
must not trust anything in it but the student's answers, so, as nbgrader's autograder does:

1. **Only the task cells are the student's.** The notebook that runs is the reference (student) notebook, with
   each *task cell* (a cell whose reference source is the ``raise NotImplementedError`` stub or the "*Write
   your answer here.*" prompt) taken from the submission, matched by its cell id; cells the student added are
   kept where they were. Every given cell and every check cell comes from the reference, so an edited check
   (``try: … except: print("✓")``) or a deleted one changes nothing. A task cell missing from the submission is
   reported and graded as the empty stub.
2. **The grader calls the checks itself.** Each check cell becomes a call of :func:`.verdict.verdict`, sent as a
   user expression of a silent request (no input transformer or cell hook of the student's sees it), which loads
   the checks afresh, calls the check on the notebook's cases and then on hidden ones drawn from a seed of the
   grader's, and returns a line signed with a key chosen for this run: rebinding ``check_softmax``, printing "✓"
   or rewriting ``sys.stdout`` does not pass a task, nor does code that answers only the notebook's cases. Task
   cells that import the course package (its reference implementations), or reach into the interpreter or the
   kernel (``builtins``, ``sys.modules``, ``importlib``, ``get_ipython``, ``gc``, ...), are flagged in the report
   for the instructor to read: not failed, since the course teaches with its package.
3. **The kernel runs in a sandbox** (:mod:`.sandbox`): no network, every file system read-only but its own
   folder, the other submissions and the grades hidden, a scrubbed environment, CPU and memory limits. All
   submissions are read before any of them runs, so none can change another's.

Every notebook runs top to bottom within a time limit for the whole notebook, with errors allowed, so that one
broken cell does not hide the rest. A notebook that cannot be read, never ends or crashes its kernel is scored
like that, not fatal: the grader always writes its table.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import csv
import hashlib
import hmac
import json
import queue
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from ..validation import check_positive_int
from . import sandbox
from .student import CODE_STUB, TEXT_STUB
from .verdict import PREFIX, sign

CHECK_CALL = re.compile(r"^\s*(check_\w+)\(", flags=re.MULTILINE)
TASK_HEADING = re.compile(r"^##\s+(Task\s+\d+\b.*)$", flags=re.MULTILINE)  # "Task 4 (experiment): …" too
ENCODER_USE = re.compile(r"\b(pretrain|course_encoders?|downstream_mlm)\(")  # notebooks that load a pretrained encoder
# What a task cell needs to reach the checks, the kernel or the interpreter in order to fake a result (or to use
# the course's reference implementations): flagged for the instructor to read, never failed.
SUSPICIOUS = re.compile(
    r"\b(xlm_course|builtins|__builtins__|sys\.modules|importlib|runpy|stdout|stderr|settrace|setprofile|addaudithook|"
    r"_getframe|get_ipython|IPython|ipykernel|ctypes)\b"  # names that reach the checks, the kernel, the interpreter
    r"|\b(?:import|from)\s+(gc|inspect|threading|signal|os)\b"  # modules that reach other objects, threads, processes
    r"|(?<![\w.])(exec|eval|compile|globals|setattr|__import__)\s*\(")  # code built at run time; model.eval() is not


@dataclass(frozen=True)
class CheckResult:
    """One student's result on one task of one notebook; ``flags`` are notes for the instructor, not fails."""

    student: str
    notebook: str
    task: str
    check: str
    passed: bool
    feedback: str
    flags: str = ""
    points: float = 1.0
    credit: float = 0.0  # the share of a failed task's points that its independent parts earned

    @property
    def earned(self) -> float:
        return self.points * (1.0 if self.passed else self.credit)


@dataclass
class Grading:
    """What ``grade_folder`` found: the results, and notes about files it could not match to a notebook."""

    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # the class's hidden-case seed (each student's cases are drawn from it and their name)


def hidden_seed(seed: int, student: str, notebook: str) -> int:
    """The seed of one student's hidden cases in one notebook: a classmate's cases tell them nothing."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{student}/{notebook}".encode()).digest()[:4], "big")


def class_seed(executed: Path | None, seed: int | None) -> int:
    """The class's hidden-case seed: ``seed`` if given; else the one kept in ``executed`` (so that re-grading
    draws the same cases, and an unchanged submission need not run again); else a new one, kept there."""
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"the hidden-case seed must be a non-negative int, got {seed!r}")
        return seed
    kept = executed / ".hidden-seed" if executed is not None else None
    if kept is not None and kept.exists():
        text = kept.read_text().strip()
        if not text.isdigit():
            raise ValueError(f"{kept} should hold the class's hidden-case seed (a non-negative int), got {text!r}: "
                             "restore it, or pass --hidden-seed N (a new seed draws new hidden cases)")
        return int(text)
    seed = secrets.randbelow(2**31)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(f"{seed}\n")
    return seed


def tasks_of(reference: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(task title, check function) for every check cell of a reference notebook, in order."""
    return [(title, check) for title, check, _ in _check_cells(reference)]


def points_of(reference: nbformat.NotebookNode) -> dict[str, float]:
    """Each check's points: 1, unless the notebook's metadata says otherwise (``{"xlm_course": {"points":
    {"check_attention": 2}}}``, set in the solution notebook and copied into the student one)."""
    checks = [check for _, check in tasks_of(reference)]
    weights = reference.metadata.get("xlm_course", {}).get("points", {})
    unknown = sorted(set(weights) - set(checks))
    if unknown:
        raise ValueError(f"points are given for {', '.join(unknown)}, which no check cell calls; the checks are "
                         f"{', '.join(checks)}")
    for check, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"the points of {check} must be a positive number, got {value!r}")
    return {check: float(weights.get(check, 1)) for check in checks}


def _check_cells(reference: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """(task title, check function, cell id) for every check cell of a reference notebook."""
    tasks, title = [], "before the first task"
    for cell in reference.cells:
        if cell.cell_type == "markdown" and (heading := TASK_HEADING.search(cell.source)):
            title = heading.group(1).strip()
        elif cell.cell_type == "code" and "import" not in cell.source:
            tasks.extend((title, name, cell.get("id", "")) for name in CHECK_CALL.findall(cell.source))
    if not tasks:
        raise ValueError("the reference notebook has no check cells (cells calling check_...): nothing to grade")
    return tasks


def is_task_cell(cell: nbformat.NotebookNode) -> bool:
    """A cell the student writes: its reference source is a solution stub or an answer prompt."""
    return CODE_STUB in cell.source or TEXT_STUB in cell.source


VERDICT = "xlm_course_verdict"  # a graded check cell's metadata: the expression the grader sends in its place


def verdict_expression(check_cell: str, nonce: str, key: str, seed: int | None = None) -> str:
    """What the grader evaluates instead of a check cell such as ``check_attention(attention)``: one Python
    expression (a user expression of the kernel's execute request), which loads :mod:`.verdict` from its file."""
    try:
        body = ast.parse(check_cell).body
    except SyntaxError as error:
        raise ValueError(f"a check cell must be one call such as check_attention(attention), got {check_cell!r}") from error
    call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise ValueError(f"a check cell must be one call such as check_attention(attention), got {check_cell!r}")
    positional = "".join(f"{ast.unparse(argument)}, " for argument in call.args)
    keywords = ", ".join(f"{k.arg}={ast.unparse(k.value)}" for k in call.keywords)
    location = Path(__file__).resolve().parent / "verdict.py"
    return (f"__import__('runpy').run_path({str(location)!r}, run_name='xlm_course.exercises._verdict_{nonce}')"
            f"['verdict']({nonce!r}, {key!r}, {call.func.id!r}, lambda: (({positional}), dict({keywords})), {seed!r})")


def assemble(reference: nbformat.NotebookNode, submitted: nbformat.NotebookNode, nonce: str, key: str,
             seed: int | None = None) -> tuple[nbformat.NotebookNode, list[str], list[str]]:
    """The notebook the grader runs: the reference with the submission's task cells and added cells; its check
    cells marked with the verdict expression the grader sends in their place (:func:`verdict_expression`).
    Returns it, the ids of task cells missing from the submission, and flags."""
    known = {cell.get("id") for cell in reference.cells}
    theirs = {cell.get("id"): cell for cell in submitted.cells if cell.get("id") in known}
    added: dict[str | None, list[nbformat.NotebookNode]] = {}
    if not theirs and len(submitted.cells) == len(reference.cells):  # ids lost on the way: match by position
        theirs = {ref.get("id"): cell for ref, cell in zip(reference.cells, submitted.cells, strict=True)}
    else:
        last = None
        for cell in submitted.cells:
            if cell.get("id") in known:
                last = cell.get("id")
            else:  # a cell the student added: kept after the reference cell it followed
                added.setdefault(last, []).append(cell)
    checks = {cell_id for _, _, cell_id in _check_cells(reference)}
    graded, missing, flags = copy.deepcopy(reference), [], []
    cells = [copy.deepcopy(cell) for cell in added.get(None, [])]
    for cell in graded.cells:
        cell_id = cell.get("id")
        if cell_id in checks:
            expression = verdict_expression(cell.source, nonce, key, seed)
            cell.metadata[VERDICT] = expression
            cell.source = f"# the grader's check, sent as a user expression in place of: {cell.source.strip()}\n{expression}\n"
        elif is_task_cell(cell):
            if cell_id in theirs and theirs[cell_id].cell_type == cell.cell_type:
                cell.source = theirs[cell_id].source
            else:
                missing.append(cell_id)
        cells.append(cell)
        cells.extend(copy.deepcopy(extra) for extra in added.get(cell_id, []))
    tasks = {cell.get("id") for cell in reference.cells if is_task_cell(cell)}
    for cell in cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if cell.get("id") in tasks or cell.get("id") not in known:  # the student's code: for the instructor to read
            names = (next(group for group in found if group) for found in SUSPICIOUS.findall(cell.source))
            flags.extend(f"cell {cell.get('id')} uses {name}" for name in dict.fromkeys(names))
    graded.cells = cells
    return graded, missing, flags


def _execute(notebook: nbformat.NotebookNode, time_limit: float, folder: Path, isolate: bool,
             limits: sandbox.Limits, hidden: tuple[Path, ...]) -> str:
    """Run ``notebook`` in place, cell by cell, within ``time_limit`` seconds in all; return '' if it ran to the
    end, else why it stopped. Each cell may use what the earlier ones left of the budget."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    from ..cache import CACHE_VARIABLE, cache_root
    from ..runtime import OFFLINE_VARIABLES, PROFILE_VARIABLE, get_profile

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            command = super().format_kernel_cmd(extra_arguments)
            return [*sandbox.kernel_prefix(folder, limits, hidden), *command] if isolate else command

    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    env = sandbox.environment(folder, {CACHE_VARIABLE: str(cache_root()), PROFILE_VARIABLE: get_profile().name,
                                       **dict.fromkeys(OFFLINE_VARIABLES, "1")})  # the Hugging Face libraries offline
    manager = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(folder / "kernel"),
                                     connection_file=str(folder / "kernel.json"))
    client = NotebookClient(notebook, km=manager, timeout=time_limit, allow_errors=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(work)}})
    deadline = time.monotonic() + time_limit
    limit = f"the notebook did not finish within the time limit ({time_limit:g} s)"
    try:
        with client.setup_kernel(env=env, cleanup_kc=True):  # the kernel dies with this block
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                client.timeout = max(1, int(deadline - time.monotonic()))
                if time.monotonic() >= deadline:
                    return limit
                try:
                    if VERDICT in cell.metadata:
                        _evaluate_verdict(client, cell, client.timeout)
                    else:
                        client.execute_cell(cell, index)
                except (CellTimeoutError, queue.Empty):
                    return limit
        return ""
    except Exception as error:  # a dead kernel, a notebook nbclient cannot run
        first_line = str(error).splitlines()[0] if str(error) else ""
        return f"the notebook stopped: {type(error).__name__}: {first_line}"


def _evaluate_verdict(client: object, cell: nbformat.NotebookNode, timeout: float) -> None:
    """Evaluate a check cell's verdict expression as a user expression of an empty, silent execute request, and
    keep the value (or the error) it returned as the cell's output. Raises ``queue.Empty`` past ``timeout``."""
    from nbclient.util import run_sync

    msg_id = client.kc.execute("", silent=True, store_history=False, user_expressions={"verdict": cell.metadata[VERDICT]})
    deadline = time.monotonic() + timeout
    while True:
        reply = run_sync(client.kc.get_shell_msg)(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    value = reply["content"].get("user_expressions", {}).get("verdict", {})
    if value.get("status") == "ok":
        text = ""
        with contextlib.suppress(ValueError, SyntaxError):  # a str's repr, unless the formatter was tampered with
            text = ast.literal_eval(value.get("data", {}).get("text/plain", ""))
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{text}\n")]
    else:
        cell.outputs = [nbformat.v4.new_output("error", ename=value.get("ename", "error"),
                                               evalue=value.get("evalue", ""), traceback=[])]
    cell.execution_count = reply["content"].get("execution_count", 0)


def _verdict(cell: nbformat.NotebookNode, nonce: str, key: str, stopped: str) -> tuple[bool, str, float]:
    """(passed, feedback, credit) from a graded check cell: only a line carrying this run's nonce and a valid
    signature counts."""
    marker = f"{PREFIX} {nonce} "
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            for line in output.get("text", "").splitlines():
                if line.startswith(marker):
                    signature, _, payload = line[len(marker):].partition(" ")
                    if not hmac.compare_digest(signature, sign(key, nonce, payload)):
                        return False, "the grader's verdict was altered on its way out of the kernel", 0.0
                    result = json.loads(payload)
                    return bool(result["passed"]), result["feedback"], float(result.get("credit", 0.0))
    if cell.get("execution_count") is None:
        return False, f"not run: {stopped or 'the notebook stopped before this check'}", 0.0
    errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
    reason = f"{errors[0].ename}: {errors[0].evalue}" if errors else "no verdict came back"
    return False, f"the grader's check did not finish ({reason})", 0.0


def grade_notebook(submitted: nbformat.NotebookNode | str | Path, reference: nbformat.NotebookNode, student: str,
                   time_limit: float = 300, name: str | None = None, isolate: bool = True,
                   limits: sandbox.Limits | None = None, hidden: Iterable[Path] = (),
                   executed: Path | None = None, seed: int | None = None) -> list[CheckResult]:
    """Run one submission (a notebook, or its path) against ``reference`` and score each check.

    ``isolate`` runs the kernel in the sandbox (:mod:`.sandbox`); ``hidden`` are folders it must not see;
    ``executed``, if given, is where the executed notebook is kept (for appeals); ``seed``, if given, draws the
    hidden cases each check is called on after the notebook's own."""
    tasks = _check_cells(reference)
    if not isinstance(submitted, nbformat.NotebookNode):
        path = Path(submitted)
        name = name or path.name
        try:
            submitted = nbformat.read(path, as_version=4)
        except Exception as error:  # not JSON, not a notebook
            reason = f"the file could not be read as a notebook: {type(error).__name__}"
            return [CheckResult(student, name, task, check, False, reason, points=points_of(reference)[check])
                    for task, check, _ in tasks]
    name = name or "notebook.ipynb"
    if isolate and not (how := sandbox.isolation())[0]:
        raise RuntimeError(f"cannot isolate the submissions here: {how[1]}. Grade in the container of "
                           "exercises/grading.Dockerfile, or pass --unsafe-no-sandbox on a machine you trust.")
    nonce, key = secrets.token_hex(8), secrets.token_hex(32)
    graded, missing, flags = assemble(reference, submitted, nonce, key, seed)
    folder = Path(tempfile.mkdtemp(prefix="xlm-course-grade-"))
    try:
        stopped = _execute(graded, time_limit, folder, isolate, limits or sandbox.Limits(), tuple(hidden))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if executed is not None:
        executed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(graded, executed)
    by_id = {cell.get("id"): cell for cell in graded.cells}
    note = (f" (task cells missing from the submission, graded as empty: {', '.join(missing)})" if missing else "")
    results = []
    for task, check, cell_id in tasks:
        passed, feedback, credit = _verdict(by_id[cell_id], nonce, key, stopped)
        results.append(CheckResult(student, name, task, check, passed, feedback + note, "; ".join(flags),
                                   points_of(reference)[check], 0.0 if passed else credit))
    return results


PINNED = re.compile(r'xlm-course @ git\+\S+@v([^"\s]+)"')  # the release a notebook's Colab cell installs


def release_notes(references: dict[str, nbformat.NotebookNode]) -> list[str]:
    """A note for each reference notebook whose Colab cell installs another release than the grader runs: its
    students saw the checks of that release, and are graded with these."""
    from .. import __version__

    notes = []
    for name, reference in references.items():
        found = PINNED.search("".join(cell.source for cell in reference.cells if cell.cell_type == "code"))
        if found and found.group(1) != __version__:
            notes.append(f"{name} installs xlm-course v{found.group(1)} in Colab, but the grader runs {__version__}: "
                         f"grade with the release your students used (pip install \"xlm-course[grade] @ "
                         f"git+…@v{found.group(1)}\")")
    return notes


def _outermost(paths: Iterable[Path]) -> tuple[Path, ...]:
    """The folders to hide, without those inside another (hiding the outer one hides them already)."""
    paths = [Path(p).resolve() for p in paths]
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
    return tuple(p for p in paths if not any(other in p.parents for other in paths))


COPY_MARKS = re.compile(r"^(copy of\s+)+|\s*\(\d+\)$|\s*-\s*copy$|\s+copy$", flags=re.IGNORECASE)


def match_notebook(filename: str, names: Iterable[str]) -> str | None:
    """The reference notebook a handed-in file is a copy of ("Copy of 04_math.ipynb", "04_math (1).ipynb")."""
    stem = Path(filename).stem.strip()
    previous = None
    while previous != stem:
        previous, stem = stem, COPY_MARKS.sub("", stem).strip()
    for name in names:
        if Path(name).stem.lower() == stem.lower():
            return name
    return None


def prepare_cache(references: Sequence[nbformat.NotebookNode], warm: bool = False) -> None:
    """Make sure the encoders the graded notebooks load are cached before any student's notebook runs: in the
    sandbox the cache is read-only, and pretraining inside each student's time limit would fail them all."""
    if not any(ENCODER_USE.search(cell.source) for reference in references for cell in reference.cells
               if cell.cell_type == "code"):
        return
    from ..cache import cache_root
    from ..pretraining import PretrainingSetup, is_pretrained, pretrain
    from ..transfer.encoders import DOWNSTREAM_SETUP

    setups = {"chapter 3's encoder (UI pairs)": PretrainingSetup(), "the applications' encoder (UI and emoji pairs)":
              DOWNSTREAM_SETUP}
    missing = {name: setup for name, setup in setups.items() if not is_pretrained(setup)}
    if missing and not warm:
        raise RuntimeError(f"the graded notebooks load pretrained encoders that are not in the cache ({cache_root()}): "
                           f"{'; '.join(missing)}. Run `make warm-cache` once, or grade with --warm-cache, before "
                           "grading: a sandboxed notebook cannot build them (its cache is read-only)")
    for setup in missing.values():
        pretrain(setup, progress=False)


def grade_folder(folder: str | Path, reference_folder: str | Path = "exercises/student", time_limit: float = 300,
                 notebooks: Sequence[str] | None = None, isolate: bool = True,
                 limits: sandbox.Limits | None = None, executed: str | Path | None = None,
                 warm_cache: bool = False, jobs: int = 1, students: Sequence[str] | None = None,
                 seed: int | None = None) -> Grading:
    """Grade every ``<student>/<notebook>.ipynb`` in ``folder`` against the reference notebooks.

    ``notebooks`` ("04_math", ...) chooses what is graded; by default, every reference notebook that some
    student handed in. A chosen notebook a student did not hand in scores zero on its tasks ("not submitted");
    a file that matches no reference notebook is noted, never fatal. Every submission is read (and hashed)
    before the first one runs. ``jobs`` notebooks run at once, each in its own kernel; ``students`` grades only
    those. With ``executed``, each result is kept beside its executed notebook, under the hashes of the
    submission and of the reference, and a submission that has not changed is not run again. Each check is also
    called on hidden cases, drawn for each student from the class's ``seed`` (:func:`class_seed`)."""
    check_positive_int("jobs", jobs)  # notebooks graded at once
    folder, reference_folder = Path(folder).resolve(), Path(reference_folder)
    references = {path.name: nbformat.read(path, as_version=4) for path in sorted(reference_folder.glob("*.ipynb"))}
    if not references:
        raise FileNotFoundError(f"no reference notebooks (*.ipynb) in {reference_folder}")
    chosen_students = students
    kept = Path(executed).resolve() if executed is not None else None
    students = sorted(path for path in folder.iterdir()
                      if path.is_dir() and not path.name.startswith(".") and path.resolve() != kept)
    if not students:
        raise FileNotFoundError(f"no student folders in {folder}: expected {folder}/<student>/<notebook>.ipynb")
    if chosen_students is not None:
        unknown = sorted(set(chosen_students) - {path.name for path in students})
        if unknown:
            raise ValueError(f"no folder for {', '.join(unknown)} in {folder}; the students are "
                             f"{', '.join(path.name for path in students)}")
        students = [path for path in students if path.name in set(chosen_students)]
    chosen = None
    if notebooks is not None:
        chosen = []
        for wanted in notebooks:
            match = match_notebook(wanted if wanted.endswith(".ipynb") else f"{wanted}.ipynb", references)
            if match is None:
                raise ValueError(f"--notebooks {wanted!r} is none of the exercise notebooks: {', '.join(references)}")
            chosen.append(match)
    grading = Grading(seed=class_seed(Path(executed) if executed is not None else None, seed))
    grading.notes.extend(release_notes(references))
    handed: dict[str, dict[str, tuple[str, bytes]]] = {}
    for student in students:
        for path in sorted(student.glob("*.ipynb")):
            match = match_notebook(path.name, references)
            if match is None:
                grading.notes.append(f"{student.name}/{path.name} matches none of the exercise notebooks: not graded")
            elif match in handed.get(student.name, {}):
                grading.notes.append(f"{student.name}/{path.name} is a second copy of {match}: not graded")
            else:
                handed.setdefault(student.name, {})[match] = (path.name, path.read_bytes())
    graded = chosen if chosen is not None else [n for n in references if any(n in h for h in handed.values())]
    if not graded:
        raise ValueError(f"no student folder in {folder} holds any of the exercise notebooks ({', '.join(references)})")
    prepare_cache([references[name] for name in graded], warm=warm_cache)
    output = Path(executed) if executed is not None else None
    hidden = _outermost(p for p in (folder, output) if p is not None)
    fingerprints = {name: hashlib.sha256(nbformat.writes(reference).encode()).hexdigest()[:12]
                    for name, reference in references.items()}

    def zero(student: str, name: str, reason: str) -> list[CheckResult]:
        points = points_of(references[name])
        return [CheckResult(student, name, task, check, False, reason, points=points[check])
                for task, check in tasks_of(references[name])]

    def run(job: tuple[str, str, nbformat.NotebookNode, str]) -> list[CheckResult]:
        student, name, submitted, digest = job
        kept_as = output / student / f"{Path(name).stem}-{digest}.ipynb" if output is not None else None
        cases = hidden_seed(grading.seed, student, name)
        record = (kept_as.with_name(f"{kept_as.stem}-{fingerprints[name]}-{cases}.json") if kept_as is not None
                  else None)
        if record is not None and record.exists():  # graded before, unchanged, same reference and hidden cases
            return [CheckResult(**row) for row in json.loads(record.read_text(encoding="utf-8"))]
        results = grade_notebook(submitted, references[name], student, time_limit, name, isolate, limits, hidden,
                                 kept_as, cases)
        if record is not None:
            record.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False), encoding="utf-8")
        return results

    slots: list[list[CheckResult] | tuple[str, str, nbformat.NotebookNode, str]] = []
    for student in students:
        mine = handed.get(student.name, {})
        for name in graded:
            if name not in mine:
                slots.append(zero(student.name, name, "not submitted"))
                continue
            content = mine[name][1]
            try:
                submitted = nbformat.reads(content.decode("utf-8"), as_version=4)
            except Exception as error:
                slots.append(zero(student.name, name, f"the file could not be read as a notebook: {type(error).__name__}"))
                continue
            slots.append((student.name, name, submitted, hashlib.sha256(content).hexdigest()[:12]))
    to_run = [slot for slot in slots if isinstance(slot, tuple)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each notebook's kernel is its own process
        ran = iter(list(pool.map(run, to_run)))
    for slot in slots:
        grading.results.extend(next(ran) if isinstance(slot, tuple) else slot)
    return grading


def _score(results: Sequence[CheckResult]) -> str:
    """Points earned out of points possible, "4/5"."""
    return f"{sum(r.earned for r in results):g}/{sum(r.points for r in results):g}"


def write_reports(results: Sequence[CheckResult], output: str | Path,
                  notes: Sequence[str] = (), seed: int | None = None) -> tuple[Path, Path]:
    """``grades.csv`` (one row per student and task), ``gradebook.csv`` (one row per student, a column per task
    and a total, as Canvas and Moodle import a gradebook), ``grades.md`` (scores, then every failure's feedback)
    and ``feedback/<student>.md`` (what to send each student: their scores and each failed check's hint)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    table = output / "grades.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CheckResult.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(result) for result in results)
    columns = list(dict.fromkeys(f"{Path(r.notebook).stem}: {r.task}" for r in results))
    students = sorted({r.student for r in results})
    with (output / "gradebook.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", *columns, "Total", "Out of"])
        for student in students:
            mine = {f"{Path(r.notebook).stem}: {r.task}": r for r in results if r.student == student}
            writer.writerow([student, *(f"{mine[c].earned:g}" if c in mine else "" for c in columns),
                             f"{sum(r.earned for r in mine.values()):g}", f"{sum(r.points for r in mine.values()):g}"])
    feedback = output / "feedback"
    feedback.mkdir(exist_ok=True)
    for student in students:
        mine = [r for r in results if r.student == student]
        lines = [f"# Feedback for {student}", "", f"{sum(r.passed for r in mine)} of {len(mine)} tasks passed "
                 f"({_score(mine)} points).", ""]
        for notebook in dict.fromkeys(r.notebook for r in mine):
            part = [r for r in mine if r.notebook == notebook]
            lines += [f"## {notebook}: {_score(part)}", ""]
            lines += [f"* {'✓' if r.passed else '✗'} {r.task}" + ("" if r.passed or not r.credit else
                      f" ({r.earned:g} of {r.points:g} points: some of its parts are right)") + ("" if r.passed else
                      "\n\n  " + "\n  ".join(r.feedback.splitlines())) for r in part]
            lines.append("")
        (feedback / f"{student}.md").write_text("\n".join(lines), encoding="utf-8")
    notebooks = sorted({r.notebook for r in results})
    lines = ["# Grades", "", "| student | " + " | ".join(notebooks) + " | total |",
             "|---|" + "---:|" * (len(notebooks) + 1)]
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student]
        cells = []
        for notebook in notebooks:
            part = [r for r in mine if r.notebook == notebook]
            cells.append(_score(part))
        lines.append(f"| {student} | " + " | ".join(cells) + f" | {_score(mine)} |")
    lines += ["", "## Feedback", ""]
    for r in results:
        if not r.passed:
            feedback = " ".join(r.feedback.split())
            lines.append(f"* **{r.student}**, {r.notebook}, {r.task} (`{r.check}`): {feedback}")
    flagged = sorted({(r.student, r.notebook, r.flags) for r in results if r.flags})
    if flagged:
        lines += ["", "## For the instructor to read (not failed)", ""]
        lines += [f"* **{student}**, {notebook}: {flags}" for student, notebook, flags in flagged]
    if notes:
        lines += ["", "## Notes", ""] + [f"* {note}" for note in notes]
    if seed is not None:
        lines += ["", f"Each check was also called on hidden cases, drawn for each student from the class seed {seed} "
                  f"(kept in executed/.hidden-seed; `--hidden-seed {seed}` draws the same ones again)."]
    report = output / "grades.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table, report
