"""The grader's own check call, run in the student's kernel after the student's cells (``xlm-course grade``).

A check cell of a submitted notebook proves nothing by itself: the student may have wrapped it in
``try/except``, printed "✓" instead, or rebound ``check_attention`` to a function that does nothing. So the
grader replaces every check cell with a call of :func:`verdict`, loaded from this file under a name of its own
for this run, which loads the checks afresh from their files (a rebinding in the student's namespace or in the
imported ``xlm_course.exercises`` does not reach them), calls the check on the student's function, and prints
one line, ``XLM-COURSE-VERDICT <nonce> {json}``, with a nonce the student's code never saw.
"""

from __future__ import annotations

import importlib.util
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


def verdict(nonce: str, check: str, arguments: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]) -> None:
    """Call the fresh ``check`` on what ``arguments()`` returns and print the verdict line."""
    checks = {name: _fresh(name, nonce) for name in ("checks", "experiments")}
    function = getattr(checks["checks"], check, None) or getattr(checks["experiments"], check, None)
    if function is None:
        result = {"check": check, "passed": False, "feedback": f"the grader knows no check named {check}"}
    else:
        try:
            args, kwargs = arguments()
        except Exception as error:  # the name the check is given is not defined: the task was never written
            result = {"check": check, "passed": False,
                      "feedback": f"the check's inputs could not be built: {type(error).__name__}: {error}"}
        else:
            try:
                function(*args, **kwargs)
                result = {"check": check, "passed": True, "feedback": "correct"}
            except Exception as error:
                if type(error).__name__ == "ExerciseFailed":
                    feedback = str(error)
                else:  # a bug of the grader's, not the student's: keep the trace for the instructor
                    feedback = (f"the check could not run: {type(error).__name__}: {error} "
                                f"({traceback.format_exc(limit=-2).strip().splitlines()[-1]})")
                result = {"check": check, "passed": False, "feedback": feedback}
    print(f"{PREFIX} {nonce} {json.dumps(result, ensure_ascii=False)}", flush=True)
