"""The figures behind the course's hang guards (issue 8, item 4).

    PATH=$PWD/.venv/bin:$PATH python benchmarks/bench_hang_guards.py [--repeat 3] [--busy 0]

Every time limit of the course is a hang guard: code that finishes in a student's
notebook must never reach it, on a busy machine too. This prints what an honest
submission (the reference answers in the release notebook) measures against each:

- the notebook in the sandboxed kernel (``SandboxedExecute``): the kernel's start and
  the slowest cell, against ``c.SandboxedExecute.startup_timeout`` / ``.timeout``;
- the trusted verdicts (``TrustedVerdict``): the slowest single call of a student
  function and the slowest check (all its calls), against ``call_timeout`` /
  ``check_timeout``; the same for the slowest catalog mistakes that still finish
  (``SLOW_ENTRIES``: quadratic splits), whose verdict must not turn into a time-out;
- one student in the class command (autograde and feedback, ``--workers 2``, a few
  students at once), against its ``--timeout``.

Each figure is the worst of ``--repeat`` rounds; the load average is printed before
and after. ``--busy N`` starts N processes that spin on the CPU for the whole run (the
issue's oversubscribed machine: 4 per core), then stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.assignment import contract, reference  # noqa: E402
from autograder.assignment.contract import ASSIGNMENT, NOTEBOOK  # noqa: E402


def reference_notebook():
    """The release notebook with the reference answers."""
    import nbformat

    nb = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    answers = {
        cell.grade_id: inspect.getsource(getattr(reference, cell.function))
        for cell in contract.ANSWER_CELLS
    }
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def kernel_round(folder: Path) -> dict:
    """Kernel start and per-cell wall seconds of the notebook in the sandboxed kernel."""
    from nbclient.util import run_sync

    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    cells: dict[int, float] = {}
    start: list[float] = []

    class Timed(SandboxedExecute):
        async def async_start_new_kernel_client(self):
            t0 = time.perf_counter()
            try:
                return await super().async_start_new_kernel_client()
            finally:
                start.append(time.perf_counter() - t0)

        start_new_kernel_client = run_sync(async_start_new_kernel_client)

        def preprocess_cell(self, cell, resources, index):
            t0 = time.perf_counter()
            try:
                return super().preprocess_cell(cell, resources, index)
            finally:
                if cell.cell_type == "code":
                    cells[index] = time.perf_counter() - t0

    nb = reference_notebook()
    # no limit here: the figure is what the cell takes, not whether a guard holds
    Timed(timeout=3600, startup_timeout=3600).preprocess(nb, {"metadata": {"path": str(folder)}})
    errors = [
        (i, o.ename)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    slowest = max(cells, key=cells.get)
    return {
        "kernel_start_s": start[0],
        "slowest_cell_s": cells[slowest],
        "slowest_cell": slowest,
        "notebook_cells_s": sum(cells.values()),
        "errors": errors,
    }


def verdict_round() -> dict:
    """Wall seconds of each check and of its slowest call, in a sandboxed worker."""
    from autograder.preprocessors.trusted_verdict import TrustedVerdict

    verdict = TrustedVerdict(
        assignment="autograder.assignment", call_timeout=3600.0, check_timeout=3600.0
    )
    spec = verdict.spec
    worker = spec.worker(call_timeout=3600.0)
    checks, calls, failed = {}, {}, []
    with worker:
        t0 = time.perf_counter()
        list(worker.load(verdict.worker_cells(reference_notebook())))
        load_s = time.perf_counter() - t0
        for grade_id in spec.check_order:
            check, arg_names = spec.checks[grade_id]
            first = len(worker.observations)
            t0 = time.perf_counter()
            if verdict.run_check(worker, check, arg_names) is not None:
                failed.append(grade_id)
            checks[grade_id] = time.perf_counter() - t0
            calls[grade_id] = max(
                (o.wall_seconds for o in worker.observations[first:]), default=0.0
            )
    return {"load_cells_s": load_s, "check_s": checks, "slowest_call_s": calls, "failed": failed}


#: Catalog mistakes that finish, slowly: their verdicts must never be time-outs.
SLOW_ENTRIES = ("rs_quadratic", "rs_np_append")


def catalog_round() -> dict:
    """Slowest call and check of each of SLOW_ENTRIES (its own function's checks)."""
    from autograder.assignment.contract import GRADED_CELLS
    from autograder.preprocessors.trusted_verdict import TrustedVerdict
    from fixtures.catalog import ENTRIES

    verdict = TrustedVerdict(
        assignment="autograder.assignment", call_timeout=3600.0, check_timeout=3600.0
    )
    out = {}
    for entry in (e for e in ENTRIES if e.name in SLOW_ENTRIES):
        with verdict.spec.worker(call_timeout=3600.0) as worker:
            list(worker.load([(entry.answer_cell, entry.code, ())]))
            for cell in GRADED_CELLS:
                if cell.functions != (entry.function,):
                    continue
                check, arg_names = verdict.spec.checks[cell.grade_id]
                first = len(worker.observations)
                t0 = time.perf_counter()
                verdict.run_check(worker, check, arg_names)
                slowest = max(worker.observations[first:], key=lambda o: o.wall_seconds)
                out[f"{entry.name} {cell.grade_id}"] = {
                    "check_s": time.perf_counter() - t0,
                    "slowest_call_s": slowest.wall_seconds,
                    "slowest_call_cpu_s": slowest.cpu_seconds,
                }
    return out


def class_round(base: Path, students: int) -> dict:
    """Seconds per student of the class command (autograde + feedback, 2 workers)."""
    import nbformat

    from autograder.classgrade.run import grade_class

    course = base / "course"
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for step in ("source", "release"):
        shutil.copytree(ROOT / step / ASSIGNMENT, course / step / ASSIGNMENT)
    for index in range(students):
        folder = course / "submitted" / f"s{index}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(reference_notebook(), folder / f"{NOTEBOOK}.ipynb")
    with contextlib.redirect_stdout(sys.stderr):
        _, results = grade_class(
            ASSIGNMENT, course_dir=course, workers=2, timeout=3600, report=False, log=lambda m: None
        )
    return {
        "student_s": max(r.seconds or 0.0 for r in results),
        "statuses": sorted({r.status for r in results}),
        "scores": sorted({r.score for r in results}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="CPU-spinning processes to start")
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    out: dict = {"cpu_count": os.cpu_count(), "busy": args.busy, "load_before": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-guards-") as tmp:
            rounds = []
            for _ in range(args.repeat):
                folder = Path(tmp) / "kernel"
                folder.mkdir(exist_ok=True)
                rounds.append(
                    {
                        **kernel_round(folder),
                        **verdict_round(),
                        "catalog": catalog_round(),
                        **class_round(Path(tmp), args.students),
                        "load": os.getloadavg(),
                    }
                )
                print(json.dumps(rounds[-1]), file=sys.stderr)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    out["load_after"] = os.getloadavg()
    out["rounds"] = rounds
    worst = {
        "kernel start (s)": max(r["kernel_start_s"] for r in rounds),
        "slowest cell (s)": max(r["slowest_cell_s"] for r in rounds),
        "all cells (s)": max(r["notebook_cells_s"] for r in rounds),
        "slowest call of a student function (s)": max(
            max(r["slowest_call_s"].values()) for r in rounds
        ),
        "slowest check (s)": max(max(r["check_s"].values()) for r in rounds),
        "one student in the class command (s)": max(r["student_s"] for r in rounds),
    }
    out["worst"] = worst
    print(f"load before {out['load_before']}, after {out['load_after']}, busy {args.busy}")
    for name, value in worst.items():
        print(f"{name:42s} {value:8.2f}")
    print(
        "checks (worst s):",
        {k: round(max(r["check_s"][k] for r in rounds), 2) for k in rounds[0]["check_s"]},
    )
    for name in rounds[0]["catalog"]:
        worst_call = max(r["catalog"][name]["slowest_call_s"] for r in rounds)
        worst_check = max(r["catalog"][name]["check_s"] for r in rounds)
        cpu = max(r["catalog"][name]["slowest_call_cpu_s"] or 0.0 for r in rounds)
        print(
            f"{name}: slowest call {worst_call:.2f} s ({cpu:.2f} CPU-s), check {worst_check:.2f} s"
        )
    print("errors in the kernel:", sorted({e for r in rounds for e in map(tuple, r["errors"])}))
    print("failed verdicts:", sorted({f for r in rounds for f in r["failed"]}))
    print(
        "class statuses / scores:",
        sorted({s for r in rounds for s in r["statuses"]}),
        sorted({s for r in rounds for s in r["scores"]}),
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
