"""The grader's own check call, run in the student's kernel after the student's cells (``xlm-course grade``).

A check cell of a submitted notebook proves nothing by itself: the student may have wrapped it in
``try/except``, printed "✓" instead, rebound ``check_attention`` to a function that does nothing, wrapped
``sys.stdout`` to rewrite what the check prints, or added an IPython input transformer that rewrites the
grader's cells. So the grader does not run a cell at all. It sends :func:`verdict` as a *user expression* of an
empty, silent execute request (ipykernel evaluates those after the cell, without input transformers and without
the ``pre_run_cell`` hooks), and reads the value it *returns* from the reply, not from the output streams.
:func:`verdict` loads the checks afresh from their files (a rebinding in the student's namespace or in the
imported ``xlm_course.exercises`` does not reach them), calls the check on the student's function (the
notebook's cases, then, with ``seed``, cases the grader draws and the student never saw), and returns one line,
``XLM-COURSE-VERDICT <nonce> <signature> {json}``, signed with a key that appears in no cell.

What code in the same process can still do (patch ``torch`` or ``builtins``, read the request from ipykernel's
internals) is said on book/instructors.md; the grader flags task cells that reach for those.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import io
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

PREFIX = "XLM-COURSE-VERDICT"
_HERE = Path(__file__).resolve().parent


def _fresh(module: str, nonce: str) -> ModuleType:
    """``xlm_course.exercises.<module>``, executed anew from its file under a name no student code has seen."""
    name = f"xlm_course.exercises._graded_{module}_{nonce}"
    spec = importlib.util.spec_from_file_location(name, _HERE / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(loaded)
    return loaded


def sign(key: str, nonce: str, payload: str) -> str:
    """The signature of a verdict line: HMAC-SHA256 of ``"<nonce> <payload>"`` under the run's key."""
    return hmac.new(bytes.fromhex(key), f"{nonce} {payload}".encode(), hashlib.sha256).hexdigest()


def _run(function: Callable[..., None], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """One call of a check: passed, its feedback (the failure's message, or what the check printed), its credit."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            function(*args, **kwargs)
    except Exception as error:
        if type(error).__name__ == "ExerciseFailed":
            return {"passed": False, "feedback": str(error), "credit": float(getattr(error, "credit", 0.0))}
        # a bug of the grader's, not the student's: keep the trace for the instructor
        return {"passed": False, "credit": 0.0, "feedback": f"the check could not run: {type(error).__name__}: "
                f"{error} ({traceback.format_exc(limit=-2).strip().splitlines()[-1]})"}
    return {"passed": True, "feedback": printed.getvalue().strip() or "correct", "credit": 1.0}


def verdict(nonce: str, key: str, check: str, arguments: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]],
            seed: int | None = None) -> str:
    """Call the fresh ``check`` on what ``arguments()`` returns, then again on the hidden cases of ``seed``;
    return the signed verdict line. A task passes only if both calls pass; its credit is the smaller one."""
    if sys.gettrace() is not None or sys.getprofile() is not None:  # a tracer could rewrite the check's locals
        result = {"passed": False, "credit": 0.0, "feedback": "a trace or profile function was set in the kernel "
                  "(sys.settrace / sys.setprofile) before the check ran: the grader cannot trust its result"}
    else:
        checks = {name: _fresh(name, nonce) for name in ("checks", "experiments")}
        function = getattr(checks["checks"], check, None) or getattr(checks["experiments"], check, None)
        if function is None:
            result = {"passed": False, "credit": 0.0, "feedback": f"the grader knows no check named {check}"}
        else:
            try:
                args, kwargs = arguments()
            except Exception as error:  # the name the check is given is not defined: the task was never written
                result = {"passed": False, "credit": 0.0,
                          "feedback": f"the check's inputs could not be built: {type(error).__name__}: {error}"}
            else:
                result = _run(function, args, kwargs)
                if seed is not None and result["credit"] > 0:
                    hidden = _run(function, args, {**kwargs, "seed": seed})
                    if not hidden["passed"]:
                        result = {**hidden, "credit": min(result["credit"], hidden["credit"]),
                                  "feedback": "your code passes the notebook's cases but not the grader's hidden ones "
                                  f"(drawn at random for this grading):\n{hidden['feedback']}"}
    payload = json.dumps({"check": check, **result}, ensure_ascii=False, sort_keys=True)
    return f"{PREFIX} {nonce} {sign(key, nonce, payload)} {payload}"
