"""The sandbox a submitted notebook runs in when an instructor grades it (``xlm-course grade``; book/instructors.md).

A student's notebook is someone else's code running on the instructor's machine. Without a sandbox it inherits
the grader's rights: it can read the grader's environment (tokens), reach the network, overwrite the next
student's submission, edit the installed checks, or fill the memory. Here each notebook's kernel runs

* in new Linux namespaces (``unshare``): a **network** namespace with no interface up, so no connection leaves
  it, not even to a loopback port of the host; a **mount** namespace in which every file system is remounted
  read-only except the notebook's own folder; a **PID** namespace, so that every process it started dies with it;
* with a **scrubbed environment**: ``PATH``, a private ``HOME`` and ``TMPDIR`` inside its folder, the offline
  switches, the course's profile and cache, and nothing else of the grader's;
* under **resource limits** (``setrlimit``): address space, CPU seconds, file size and, where the grader is not
  root, processes.

The kernel talks to the grader over Unix sockets in its folder (ZeroMQ's ``ipc`` transport), the one channel
that crosses the network namespace. :func:`isolation` says whether this machine allows the namespaces (Linux
with unprivileged user namespaces, or root); where it does not, the grader refuses to run unless told
``--unsafe-no-sandbox``. What is *not* isolated: the kernel can read every file the grader can read (the course,
the other submissions), and it shares the CPU and the kernel of the machine; for more, run the grader in the
container of ``exercises/grading.Dockerfile``.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# --mount-proc: a /proc of the new PID namespace, so the grader's processes (and their environments) are not in it
NAMESPACES = ("--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc")
GIB = 1024**3


@dataclass(frozen=True)
class Limits:
    """What one notebook's kernel may use. ``memory_gib`` bounds its address space (PyTorch alone reserves
    about 3 GiB of it), ``cpu_seconds`` its CPU time over all threads, ``processes`` what it may start."""

    memory_gib: float = 12.0
    cpu_seconds: int = 1800
    file_gib: float = 2.0
    processes: int = 4096  # counted over all the grader's processes and threads, not this kernel's alone

    def __post_init__(self) -> None:
        for name in ("memory_gib", "cpu_seconds", "file_gib", "processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")


@functools.cache
def isolation() -> tuple[bool, str]:
    """(True, how) where this machine can run a kernel in the namespaces above, else (False, why not)."""
    if not sys.platform.startswith("linux"):
        return False, f"the sandbox needs Linux namespaces; this is {sys.platform}"
    if shutil.which("unshare") is None:
        return False, "the `unshare` program (util-linux) is not installed"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="xlm-course-sandbox-probe-") as folder:  # the whole sandbox, once
        try:
            probe = subprocess.run([*kernel_prefix(Path(folder), Limits()), "true"], capture_output=True, text=True,
                                   timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return False, f"`unshare` could not run: {error}"
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit {probe.returncode}"
        return False, f"this machine does not allow the sandbox's namespaces and mounts ({reason})"
    return True, "Linux namespaces (user, mount, network, PID) via unshare"


def environment(folder: Path, keep: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment a sandboxed kernel gets: nothing of the grader's but ``PATH`` and ``keep``."""
    home, temporary = folder / "home", folder / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    temporary.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(temporary),
            "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(home / ".mpl"),
            "HF_HOME": str(home / ".hf"), **(keep or {})}


def kernel_prefix(folder: Path, limits: Limits, hidden: tuple[Path, ...] = ()) -> list[str]:
    """The command that goes before the kernel's own: enter the namespaces, lock the file systems, set limits."""
    hide = [argument for path in hidden for argument in ("--hide", str(path))]
    # run as a script (-I: isolated mode), not through the package: this process should not import torch
    return ["unshare", *NAMESPACES, "--", sys.executable, "-I", str(Path(__file__).resolve()), "--writable", str(folder), *hide,
            "--memory-gib", str(limits.memory_gib), "--cpu-seconds", str(limits.cpu_seconds),
            "--file-gib", str(limits.file_gib), "--processes", str(limits.processes), "--"]


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].encode().decode("unicode_escape")  # mountinfo escapes spaces as \040
            points.append(point)
    return sorted(set(points), key=len)


def lock_down(writable: Path, hidden: list[Path] | tuple[Path, ...] = ()) -> None:
    """Inside the mount namespace: keep ``writable`` writable, remount every other mount read-only, and cover
    each ``hidden`` folder (the other submissions, the grades) with an empty read-only file system."""
    writable = writable.resolve()
    subprocess.run(["mount", "--bind", str(writable), str(writable)], check=True)
    for point in _mount_points():
        if Path(point) == writable:
            continue
        # Pseudo file systems may refuse; the ones that hold files (/, /home, /tmp, ...) must not.
        subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True)
    for folder in hidden:
        folder = folder.resolve()
        if folder == writable or folder in writable.parents:
            raise ValueError(f"cannot hide {folder}: the notebook's own folder {writable} is inside it")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k,mode=0555", "tmpfs", str(folder)], check=True)
    probe = writable.parent / f".xlm-course-sandbox-probe-{os.getpid()}"
    try:
        probe.write_text("")
    except OSError:
        return
    probe.unlink()
    raise RuntimeError(f"the sandbox could not make {writable.parent} read-only")


def limit(limits: Limits) -> None:
    """Apply ``limits`` to this process and everything it starts."""
    def cap(kind: int, value: int) -> None:
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_AS, int(limits.memory_gib * GIB))
    cap(resource.RLIMIT_CPU, int(limits.cpu_seconds))
    cap(resource.RLIMIT_FSIZE, int(limits.file_gib * GIB))
    cap(resource.RLIMIT_NPROC, int(limits.processes))  # not enforced for root: see book/instructors.md


def main(argv: list[str] | None = None) -> None:
    """``python -I sandbox.py --writable DIR [--hide DIR ...] [limits] -- COMMAND``: run inside ``unshare``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writable", type=Path, required=True)
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("--memory-gib", type=float, default=Limits.memory_gib)
    parser.add_argument("--cpu-seconds", type=int, default=Limits.cpu_seconds)
    parser.add_argument("--file-gib", type=float, default=Limits.file_gib)
    parser.add_argument("--processes", type=int, default=Limits.processes)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    lock_down(args.writable, args.hide)
    limit(Limits(args.memory_gib, args.cpu_seconds, args.file_gib, args.processes))
    os.chdir(os.getcwd())  # the folder the kernel was started in, seen through the new mounts
    # This process is PID 1 of the new PID namespace, which ignores the signals it has no handler for: the
    # kernel runs as its child, so that it can be interrupted and stopped, and everything dies when it ends.
    child = os.fork()
    if child == 0:
        # ipykernel exits when its parent looks like init; its lifetime is this namespace's instead
        os.environ.pop("JPY_PARENT_PID", None)
        log = os.open(args.writable / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)  # the kernel's own messages (its banner, its warnings): not the grader's terminal
        os.dup2(log, 2)
        os.execvp(command[0], command)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda received, frame: os.kill(child, received))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            status = 0
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()
