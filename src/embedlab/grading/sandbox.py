"""A sandbox for one student's kernel, from what Linux provides: namespaces and mounts, no daemon.

Used by :mod:`embedlab.grading.run`, which starts each submission's kernel through
:func:`command`. The kernel then runs in its own

* **user, mount, PID and network namespaces** (``unshare``, util-linux): no network at all (a new
  network namespace has only a loopback, left down; the grader talks to the kernel over Unix
  sockets in the work folder), its own process tree (the kernel is process 1 of its namespace,
  so when the grader kills it every process the notebook started dies with it, daemons
  included, and :func:`survivors` checks that none is left);
* **read-only view of every file system**, but for its own work folder: the package, the Python
  installation, the user's home, the course repository cannot be written;
* with the **class folder, the output folder, the grader's other work folders, the hidden checks**
  (``embedlab/checks``) and the repository's ``tests`` folder **hidden** behind empty file systems
  (so a notebook can neither copy a classmate nor read the hidden cases), and a fresh private
  ``/dev/shm`` (its scratch space, ``TMPDIR``, is in its work folder);
* under an **address-space limit** (``RLIMIT_AS``), so a notebook that allocates without bound
  fails with ``MemoryError`` instead of taking the machine down.

The mounts are made read-only in one namespace and then *locked* by entering a second, nested
user and mount namespace before the kernel starts: the kernel is root only inside that nested
namespace, and Linux refuses to lift a lock set by a more privileged namespace, so the notebook
cannot remount anything writable or uncover what is hidden.

:func:`probe` says whether this machine can do it (unprivileged user namespaces must be enabled,
``unshare`` and ``mount`` installed). Where it cannot, the grader says so loudly
(:data:`UNPROTECTED`) and grades unsandboxed: the verdicts are still computed outside the
student's process (:mod:`embedlab.grading.run`), but files, processes and the network are not
contained.

This module is also the program that sets the sandbox up inside the namespaces
(``python -m embedlab.grading.sandbox CONFIG -- KERNEL ARGV``).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["UNPROTECTED", "command", "hidden_paths", "pid_namespace", "probe", "survivors"]

UNPROTECTED = (
    "this machine cannot sandbox the notebooks ({why}). The verdicts are still computed outside each "
    "student's process, but a notebook can read the class folder and other students' work, write to "
    "the output folder and the installed packages, reach the network, and leave processes running "
    "(the grader kills its process group, which a daemon can leave). Grade untrusted notebooks on a "
    "machine with unprivileged user namespaces (Linux; `unshare --user --map-root-user true` must work) "
    "or inside a throwaway container or VM."
)

# Outer namespaces: mounts, PIDs and the network are the sandbox's own; `--kill-child` ties the
# namespace's process 1 (the kernel) to the process the grader holds.
_OUTER = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--net", "--fork", "--kill-child",
          "--mount-proc"]
# Inner namespaces: entered after the mounts are set up, so that they are locked (see the docstring).
_INNER = ["unshare", "--user", "--map-root-user", "--mount"]


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """``None`` if this machine can sandbox a kernel, else why not (one line)."""
    if sys.platform != "linux":
        return f"namespaces are Linux-only; this is {sys.platform}"
    missing = [tool for tool in ("unshare", "mount") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (util-linux)"
    try:
        run = subprocess.run([*_OUTER, *_INNER, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare failed: {e}"
    if run.returncode != 0:
        return f"unshare failed: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}"
    return None


def hidden_paths(*extra: str | Path) -> list[str]:
    """What a sandboxed notebook must not see: the hidden checks, the repository's tests, ``extra``."""
    import embedlab.checks

    checks = Path(embedlab.checks.__file__).resolve().parent
    paths = [checks, *(Path(p).resolve() for p in extra)]
    repo = checks.parents[2]  # src/embedlab/checks -> the repository, for an editable install
    if (repo / "pyproject.toml").is_file() and (repo / "tests").is_dir():
        paths.append(repo / "tests")
    # Never hide what runs the kernel (a class folder that holds the interpreter would stop it).
    needed = [Path(sys.prefix).resolve(), checks.parent]
    return [str(p) for p in paths if p == checks or not any(p == n or p in n.parents for n in needed)]


def command(argv: list[str], workdir: Path, *, hide: list[str], memory_gb: float) -> list[str]:
    """``argv`` (the kernel's command line) wrapped to run in the sandbox described above."""
    config = {"workdir": str(workdir.resolve()), "hide": hide, "memory": int(memory_gb * 2**30)}
    return [*_OUTER, sys.executable, "-m", "embedlab.grading.sandbox", json.dumps(config), "--", *argv]


def pid_namespace(pid: int) -> str | None:
    """The PID namespace of the sandbox whose ``unshare`` is ``pid`` (``pid:[...]``), once its child runs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return os.readlink(f"/proc/{children[0]}/ns/pid") if children else None
    except OSError:
        return None


def survivors(namespace: str, wait: float = 10.0) -> list[int]:
    """Processes still alive in ``namespace`` after waiting up to ``wait`` s for them to go (SIGKILLed
    on the way): the grader's check that a notebook left nothing running."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "ns" / "pid") == namespace:
                        alive.append(int(entry.name))
                except OSError:
                    continue
        if not alive or time.monotonic() > deadline:
            return alive
        for pid in alive:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.1)


# --------------------------------------------------------------------------- inside the namespaces


def _mount(*args: str, fds: tuple[int, ...] = ()) -> None:
    subprocess.run(["mount", *args], check=True, pass_fds=fds, capture_output=True)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        points.append(point)
    return points


def _setup(workdir: str, hide: list[str], memory: int) -> None:
    """Inside the outer namespaces, as their root: make the view described in the module docstring."""
    keep = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)  # survives hiding its ancestors
    # Every file system read-only (proc, sys and dev keep their own rules: device nodes, not files).
    for point in _mount_points():
        if point == "/proc" or point.startswith(("/proc/", "/sys", "/dev")):
            continue
        try:
            _mount("-o", "remount,bind,ro", point)
        except subprocess.CalledProcessError:
            continue  # checked below: what matters must end up read-only
    # A fresh private /dev/shm, then the hidden paths behind empty file systems (writable for a
    # moment, so that the work folder's path can be made again inside one of them). /tmp stays,
    # read-only: the Python running the kernel may live there (a fresh clone's venv); the kernel's
    # TMPDIR is in its work folder.
    hidden: list[str] = []
    if os.path.isdir("/dev/shm"):
        _mount("-t", "tmpfs", "-o", "size=512m,mode=1777", "tmpfs", "/dev/shm")
    for path in sorted(hide, key=len):  # a folder before what lies inside it
        if os.path.isdir(path) and not any(p == path or p.startswith(path.rstrip("/") + "/") for p in hidden):
            _mount("-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", path)
            hidden.append(path)
    os.makedirs(workdir, exist_ok=True)
    _mount("--no-canonicalize", "--bind", f"/proc/self/fd/{keep}", workdir, fds=(keep,))
    _mount("-o", "remount,bind,rw", workdir)
    os.close(keep)
    for path in hidden:
        _mount("-o", "remount,ro", path)
    # What must not be writable, checked rather than assumed.
    import pwd

    import embedlab

    for path in {sys.prefix, os.path.dirname(embedlab.__file__), pwd.getpwuid(os.getuid()).pw_dir}:
        if os.path.isdir(path) and os.access(path, os.W_OK) and not path.startswith(workdir):
            raise SystemExit(f"embedlab sandbox: {path} is still writable; refusing to start the kernel")
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main(argv: list[str]) -> None:
    config, argv = json.loads(argv[0]), argv[2:]
    _setup(config["workdir"], config["hide"], config["memory"])
    os.chdir(config["workdir"])
    os.execvp(_INNER[0], [*_INNER, "--", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
