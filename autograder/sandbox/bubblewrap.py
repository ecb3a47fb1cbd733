"""Sandbox for student code: bubblewrap namespaces plus resource limits.

Everything that runs student code during grading (the notebook kernel under
``nbgrader autograde``, the trusted-verdict worker) is started through this
module.  The sandbox:

* sees only read-only system directories (``/usr``, the ``/lib*`` and ``/bin``
  links, a few files of ``/etc``), the Python installation and the course
  virtualenv *alone* (bound at its own path; the course directory around it,
  ``source/``, ``autograder/``, ``gradebook.db``, ``nbgrader_config.py`` and the
  other students' folders are simply not there);
* writes only to its private, size-limited tmpfs home (``SANDBOX_HOME``), its
  ``/tmp`` and ``/dev/shm``, and to the host directories the caller lists in
  ``rw_binds`` (e.g. the kernel's IPC socket directory);
* has its own pid, network (loopback only), ipc, uts and mount namespaces, a
  new session (no TIOCSTI into the grader's terminal), a clean environment, and
  dies with its parent;
* runs with resource limits (``Limits``): address space, processes, file size,
  CPU seconds, open files, no core files.

When the grader runs as root (the usual case in a course container) the
sandboxed command additionally runs as an unprivileged host uid of its own
(``allocate_uid``, via ``setpriv``) with no capabilities and ``no_new_privs``:
root ignores ``RLIMIT_NPROC``, an unprivileged uid does not, so a fork bomb is
contained, and it cannot starve a sandbox graded in parallel.  A nested,
unprivileged bubblewrap then forbids creating user namespaces (no namespaced
"root" for student code).  Without root, bubblewrap itself uses a user
namespace (with ``--disable-userns``) and the process limit is counted on top
of the processes the user already runs.

Typical use::

    from autograder.sandbox import bubblewrap as sandbox

    sandboxed = sandbox.require_sandbox()        # raises if bwrap cannot run
    argv = sandbox.build_command(
        [sys.executable, "worker.py"], sandboxed=sandboxed,
        limits=sandbox.Limits(cpu_seconds=60),
    )
    proc = subprocess.Popen(argv, pass_fds=(r, w), stdin=subprocess.DEVNULL)

``require_sandbox`` refuses to continue without bubblewrap unless the caller
passes ``unsafe=True`` or the environment has ``ONE_NEURON_UNSAFE=1``; then it
prints a loud warning on the grader's stderr and ``build_command`` keeps only
the resource limits.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

UNSAFE_ENV = "ONE_NEURON_UNSAFE"
#: Home of the sandboxed process (a private tmpfs); the default working directory.
SANDBOX_HOME = "/home/student"
#: Working directory inside the sandbox (a directory of ``SANDBOX_HOME``).
SANDBOX_WORKDIR = SANDBOX_HOME + "/work"
#: When the grader is root, each sandbox runs as its own unprivileged host uid
#: (gid = uid), taken from [SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UID_RANGE):
#: RLIMIT_NPROC counts the tasks of a uid across the whole host, so sandboxes
#: graded in parallel must not share one (a fork bomb would starve the others).
SANDBOX_UID_BASE = 1 << 30
SANDBOX_UID_RANGE = 1 << 30

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Files of /etc that programs commonly need (dynamic linker, time zone, names).
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
    "group",
    "alternatives",
    "fonts",  # fontconfig (matplotlib runs fc-list; without it: errors on stderr)
)

Bind = str | os.PathLike | tuple

#: This package.  Installed editable it lives in the course directory, which is
#: not bound; installed into the virtualenv (``pip install .``) it would be
#: visible through the venv bind, so ``sandboxed_argv`` hides it under an empty
#: tmpfs (it holds the reference solution and the checks).
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
#: Top-level packages installed next to it (the fixtures hold the catalog of answers).
SIBLINGS = ["fixtures", "demo"]


class SandboxUnavailableError(RuntimeError):
    """bubblewrap cannot run here, and unsafe grading was not requested."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed command (applied with ``prlimit``).

    ``memory_bytes`` is ``RLIMIT_AS`` (virtual address space): a Python kernel
    with numpy needs well under 1 GiB of it (see tests/sandbox/test_bubblewrap.py).
    ``nproc`` counts tasks (threads too) of the sandbox uid.
    """

    memory_bytes: int = 2 * GiB
    nproc: int = 64
    fsize_bytes: int = 64 * MiB
    cpu_seconds: int = 600
    nofile: int = 256
    home_bytes: int = 256 * MiB  # size of the tmpfs home
    tmp_bytes: int = 64 * MiB  # size of the tmpfs /tmp
    shm_bytes: int = 16 * MiB  # size of the tmpfs /dev/shm


DEFAULT_LIMITS = Limits()


_uid_counter = itertools.count()


def allocate_uid() -> int:
    """A host uid for one sandbox, distinct from those of concurrent sandboxes.

    Derived from the grader's pid and a per-process counter: two graders
    running at the same time have different pids, and one grader cycles
    through 256 uids before reusing one (its earlier sandboxes are gone by
    then).  pid < 2**22 (Linux's largest pid_max) times 256 stays below
    SANDBOX_UID_RANGE, so no two pids share a uid.  No /etc/passwd entry is needed.
    """
    return SANDBOX_UID_BASE + (os.getpid() * 256 + next(_uid_counter) % 256) % SANDBOX_UID_RANGE


def unsafe_requested(unsafe: bool | None = None) -> bool:
    """True when unsandboxed grading was asked for (flag or ``ONE_NEURON_UNSAFE=1``)."""
    if unsafe:
        return True
    return os.environ.get(UNSAFE_ENV, "").strip() == "1"


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _missing_tools() -> list[str]:
    tools = ["bwrap", "prlimit"]
    if _running_as_root():
        tools.append("setpriv")
    return [tool for tool in tools if shutil.which(tool) is None]


#: Whether sandboxes forbid user namespaces inside (nested ``bwrap --disable-userns``).
#: ``sandbox_available`` turns it off, with a warning, where that cannot work.
_block_userns = True


def _probe(block_userns: bool) -> tuple[int, str]:
    argv = sandboxed_argv(["/bin/true"], python_binds=False, block_userns=block_userns)
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stderr.decode("utf-8", "replace").strip()


@functools.lru_cache(maxsize=1)
def sandbox_available() -> tuple[bool, str]:
    """Can bubblewrap start a sandbox here?  Returns ``(ok, reason)``.

    The probe really starts ``/bin/true`` in the sandbox (about 25 ms); the
    answer is cached for the life of the process.  If only the nested
    bubblewrap that forbids user namespaces fails (e.g. AppArmor restricting
    unprivileged user namespaces), sandboxes run without it and a warning
    says so.
    """
    global _block_userns
    missing = _missing_tools()
    if missing:
        return False, (
            f"missing program(s): {', '.join(missing)} "
            "(install the Debian packages 'bubblewrap' and 'util-linux'; `make sandbox-check`)"
        )
    try:
        code, detail = _probe(block_userns=True)
        if code == 0:
            _block_userns = True
            return True, "bubblewrap works"
        nested_detail = detail
        code, detail = _probe(block_userns=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    if code == 0:
        _block_userns = False
        log.warning(
            "sandbox without the user-namespace block (nested bubblewrap failed: %s)", nested_detail
        )
        return True, f"bubblewrap works, but user namespaces stay allowed inside ({nested_detail})"
    return False, (
        f"bubblewrap cannot create a sandbox here: {detail or f'exit status {code}'} "
        "(user namespaces disabled? running in a restricted container?)"
    )


_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! UNSAFE GRADING: student code runs WITHOUT the bubblewrap sandbox.          !!
!! It can read the hidden tests, the gradebook and other students' work, and  !!
!! change them.  Only resource limits are applied.                            !!
!! reason: {reason:<66} !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def require_sandbox(unsafe: bool | None = None) -> bool:
    """Check that grading can be sandboxed.

    Returns True when the sandbox works.  When it does not: raises
    ``SandboxUnavailableError`` with the reason, unless unsafe grading was
    requested (``unsafe=True`` or ``ONE_NEURON_UNSAFE=1``), in which case it
    prints a loud warning on the grader's stderr and returns False.
    """
    ok, reason = sandbox_available()
    if ok:
        return True
    if not unsafe_requested(unsafe):
        raise SandboxUnavailableError(
            f"Cannot sandbox student code: {reason}. Refusing to grade. "
            f"To grade WITHOUT protection anyway (trusted submissions only), "
            f"set {UNSAFE_ENV}=1 or pass --unsafe."
        )
    sys.stderr.write(_WARNING.format(reason=reason[:66]))
    sys.stderr.flush()
    log.warning("unsafe grading without sandbox: %s", reason)
    return False


def python_install_dirs() -> list[str]:
    """Directories of the running Python: the virtualenv and its base installation.

    Only these are bound (read-only) into the sandbox, never the course
    directory that may contain the virtualenv: an editable install of
    ``autograder`` therefore cannot be imported inside.
    """
    dirs = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for path in (os.path.abspath(prefix), os.path.realpath(prefix)):
            if path.startswith("/usr/") or path == "/usr":
                continue
            if path not in dirs:
                dirs.append(path)
    # The interpreter may be a symlink chain (venv/bin/python -> pyenv/...).
    exe = os.path.realpath(sys.executable)
    if not exe.startswith("/usr/") and not any(exe.startswith(d + "/") for d in dirs):
        dirs.append(os.path.dirname(os.path.dirname(exe)))
    return dirs


def _normalize_binds(binds: Iterable[Bind]) -> list[tuple[str, str]]:
    result = []
    for bind in binds:
        if isinstance(bind, tuple):
            src, dest = bind
        else:
            src = dest = bind
        result.append((os.path.abspath(os.fspath(src)), os.fspath(dest)))
    return result


def _hidden_dirs(binds: Sequence[tuple[str, str]]) -> list[str]:
    """Sandbox paths of this package (and its metadata) that the binds would expose."""
    package = PACKAGE_DIR
    site = os.path.dirname(package)
    try:
        metadata = [
            name
            for name in sorted(os.listdir(site))
            if name.startswith("one_neuron_autograder")
            and name.endswith((".dist-info", ".egg-info"))
            and os.path.isdir(os.path.join(site, name))
        ]
    except OSError:
        metadata = []
    hidden = []
    for src, dest in binds:
        siblings = [os.path.join(site, name) for name in SIBLINGS]
        for path in (
            [package]
            + [p for p in siblings if os.path.isdir(p)]
            + [os.path.join(site, name) for name in metadata]
        ):
            if path == src or path.startswith(src.rstrip("/") + "/"):
                inside = os.path.normpath(os.path.join(dest, os.path.relpath(path, src)))
                if inside not in hidden:
                    hidden.append(inside)
    return hidden


class _Dirs:
    """Emits ``--dir`` for missing parents with mode 0755 (bubblewrap's default is 0700)."""

    def __init__(self, existing: Iterable[str]):
        self.made = set(existing)

    def parents(self, dest: str) -> list[str]:
        args = []
        parts = Path(dest).parts[1:-1]
        current = ""
        for part in parts:
            current += "/" + part
            if current not in self.made:
                self.made.add(current)
                args += ["--perms", "0755", "--dir", current]
        self.made.add(dest)
        return args


def sandbox_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed command (nothing of the grader's)."""
    venv_bin = os.path.join(sys.prefix, "bin")
    result = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "IPYTHONDIR": SANDBOX_HOME + "/.ipython",
        "MPLCONFIGDIR": SANDBOX_HOME + "/.config/matplotlib",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if env:
        result.update(env)
    return result


def _count_user_tasks(uid: int) -> int:
    """Tasks (threads included) the uid runs now: RLIMIT_NPROC counts these."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def prlimit_args(limits: Limits = DEFAULT_LIMITS, *, nproc_base: int = 0) -> list[str]:
    """``prlimit`` options (soft = hard) for the limits."""
    return [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.nproc + nproc_base}",
        f"--fsize={limits.fsize_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--nofile={limits.nofile}",
        "--core=0",
        "--",
    ]


def sandboxed_argv(
    argv: Sequence[str],
    scratch_dir: str | os.PathLike | None = None,
    *,
    ro_binds: Iterable[Bind] = (),
    rw_binds: Iterable[Bind] = (),
    home_files: Iterable[tuple[str, str]] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    python_binds: bool = True,
    hostname: str = "sandbox",
    uid: int | None = None,
    block_userns: bool | None = None,
) -> list[str]:
    """Command line that runs ``argv`` in the sandbox with ``limits``.

    ``scratch_dir``: a host directory the command may write to, bound at the
    same path (call ``prepare_writable_dir`` on it first when running as
    root).  ``ro_binds`` / ``rw_binds``: more host paths, each a path (bound
    at the same path) or a ``(host_path, sandbox_path)`` pair.  ``home_files``:
    ``(host file, path relative to SANDBOX_HOME)`` pairs bound read-only into the
    home, their folders writable like the rest of it (e.g. a cache the grader built,
    in a folder the program also writes to).  ``cwd``
    defaults to ``SANDBOX_WORKDIR`` (empty, writable).  ``env`` adds to
    ``sandbox_env()``.  The Python installation and virtualenv of the grader
    are bound read-only (``python_binds``).  ``uid``: the host uid of the
    command when the grader is root (default: ``allocate_uid()``; pass the one
    given to ``prepare_writable_dir``).  ``block_userns``: forbid user
    namespaces inside (default: what ``sandbox_available`` found to work).
    """
    if block_userns is None:
        block_userns = _block_userns
    as_root = _running_as_root()
    args = ["bwrap", "--die-with-parent", "--new-session"]
    args += [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if not as_root:
        args += ["--unshare-user"] + (["--disable-userns"] if block_userns else [])
    args += ["--hostname", hostname]
    # System, read-only.
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", "/etc/" + name, "/etc/" + name]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--dir", "/home"]
    args += ["--perms", "1777", "--size", str(limits.home_bytes), "--tmpfs", SANDBOX_HOME]
    args += ["--perms", "1777", "--dir", SANDBOX_WORKDIR]

    dirs = _Dirs(["/usr", "/etc", "/proc", "/dev", "/tmp", "/home", SANDBOX_HOME, SANDBOX_WORKDIR])
    for src, relative in home_files:
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or ".." in parts:
            raise ValueError(f"home file outside the sandbox home: {relative!r}")
        folder = SANDBOX_HOME
        for part in parts[:-1]:
            folder += "/" + part
            if folder not in dirs.made:
                dirs.made.add(folder)
                args += ["--perms", "1777", "--dir", folder]
        args += ["--ro-bind", os.path.abspath(src), SANDBOX_HOME + "/" + "/".join(parts)]
    ro = list(python_install_dirs()) if python_binds else []
    for src, dest in _normalize_binds(ro) + _normalize_binds(ro_binds):
        args += dirs.parents(dest) + ["--ro-bind", src, dest]
    rw = list(rw_binds) + ([scratch_dir] if scratch_dir is not None else [])
    for src, dest in _normalize_binds(rw):
        args += dirs.parents(dest) + ["--bind", src, dest]
    for hidden in _hidden_dirs(
        _normalize_binds(ro) + _normalize_binds(ro_binds) + _normalize_binds(rw)
    ):
        args += ["--perms", "0755", "--size", "4096", "--tmpfs", hidden]

    args += ["--chdir", cwd or SANDBOX_WORKDIR, "--clearenv"]
    for key, value in sandbox_env(env).items():
        args += ["--setenv", key, value]
    args += ["--"]
    if as_root:
        if uid is None:
            uid = allocate_uid()
        args += prlimit_args(limits)
        args += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
        if block_userns:
            # A second, unprivileged bubblewrap whose only job is to forbid user
            # namespaces (which would hand student code the kernel's namespaced
            # root features: a large attack surface).
            args += [
                "bwrap",
                "--dev-bind",
                "/",
                "/",
                "--unshare-user",
                "--disable-userns",
                "--die-with-parent",
                "--chdir",
                cwd or SANDBOX_WORKDIR,
                "--",
            ]
    else:
        args += prlimit_args(limits, nproc_base=_count_user_tasks(os.getuid()))
    return args + list(argv)


def limited_argv(argv: Sequence[str], limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """``argv`` with the resource limits only (no isolation): the unsafe fallback."""
    return prlimit_args(limits) + list(argv)


def build_command(argv: Sequence[str], *, sandboxed: bool, **kwargs) -> list[str]:
    """``sandboxed_argv(argv, **kwargs)`` or, when not sandboxed, ``limited_argv``.

    Pass the result of ``require_sandbox()`` as ``sandboxed``.
    """
    if sandboxed:
        return sandboxed_argv(argv, **kwargs)
    return limited_argv(argv, kwargs.get("limits", DEFAULT_LIMITS))


def prepare_writable_dir(path: str | os.PathLike, uid: int, mode: int = 0o700) -> None:
    """Make a host directory writable by the sandbox of ``uid`` (before ``rw_binds``)."""
    os.chmod(path, mode)
    if _running_as_root():
        os.chown(path, uid, uid)
