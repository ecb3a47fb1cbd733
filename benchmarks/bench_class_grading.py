"""Benchmark: plain sequential `nbgrader autograde` vs `python -m autograder.classgrade`.

    PATH=.venv/bin:$PATH python benchmarks/bench_class_grading.py [--size 20] [--workers N]

1. Builds a synthetic class of ``--size`` gradable submissions
   (``fixtures.synthetic_class``, no broken ones) in a temporary course.
2. Grades one copy with ONE plain ``nbgrader autograde one_neuron`` CLI call
   (what an instructor runs; sequential) and another copy with
   ``python -m autograder.classgrade one_neuron --no-feedback`` (same work:
   autograde only), both as subprocesses, start-up included.
3. Checks that every grade of every cell is identical in the two gradebooks.
4. Prints seconds per submission both ways and the ratio, then a breakdown of
   one notebook's autograde in-process (kernel start, execution, trusted
   verdicts, other preprocessors, nbgrader overhead) and the floor it implies.

Timings are wall-clock and depend on the machine's load: the load average is
printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.assignment.contract import ASSIGNMENT  # noqa: E402
from autograder.classgrade import app as gc  # noqa: E402
from fixtures import synthetic_class  # noqa: E402

BIN = Path(sys.executable).parent


def _env(unsafe: bool) -> dict:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if unsafe:
        env["ONE_NEURON_UNSAFE"] = "1"
    return env


def timed(cmd, cwd, env) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(map(str, cmd))} failed with {proc.returncode}")
    return elapsed


def scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            sub.student.id: {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
            for sub in gb.assignment_submissions(ASSIGNMENT)
        }


def breakdown(course: Path, students: list[str]) -> dict:
    """Seconds per phase of autograding ``students`` one by one, in-process."""
    from nbgrader.converters import Autograde

    phases = defaultdict(float)

    def timer(key, fn):
        def wrapped(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[key] += time.perf_counter() - t0

        return wrapped

    class TimedAutograde(Autograde):
        def _init_preprocessors(self):
            super()._init_preprocessors()
            for pp in self.exporter._preprocessors:
                name = type(pp).__name__
                if "Execute" in name:
                    name = "notebook execution (kernel)"
                    # setup_kernel calls these through self: time them per instance
                    pp.start_new_kernel = timer("kernel start", pp.start_new_kernel)
                    pp.start_new_kernel_client = timer("kernel start", pp.start_new_kernel_client)
                elif name == "TrustedVerdict":
                    name = "trusted verdicts (sandboxed worker)"
                else:
                    name = "other nbgrader preprocessors"
                pp.preprocess = timer(name, pp.preprocess)

    app = gc.make_app(course, log_level="CRITICAL")
    app.coursedir.assignment_id = ASSIGNMENT
    total = 0.0
    for sid in students:
        app.coursedir.student_id = sid
        t0 = time.perf_counter()
        TimedAutograde(coursedir=app.coursedir, parent=app, force=True).start()
        total += time.perf_counter() - t0
    n = len(students)
    out = {k: v / n for k, v in phases.items()}
    out["notebook execution (kernel)"] -= out.get("kernel start", 0.0)
    out["nbgrader overhead (files, gradebook, export)"] = (
        total / n - sum(v for k, v in phases.items() if k != "kernel start") / n
    )
    out["total"] = total / n
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run both ways this many times, alternating; report the best",
    )
    parser.add_argument("--unsafe", action="store_true", help="without the sandbox")
    parser.add_argument(
        "--breakdown-of", type=int, default=3, help="notebooks timed phase by phase (0: skip)"
    )
    parser.add_argument("--keep", type=Path, help="keep the temporary courses here")
    args = parser.parse_args(argv)
    env = _env(args.unsafe)
    os.environ.update(env)

    base = Path(args.keep or tempfile.mkdtemp(prefix="bench-class-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        course = base / "class"
        print(f"building a class of {args.size} in {course} ...", flush=True)
        synthetic_class.build_class(course, size=args.size, broken=False, duedate=None)
        prof = base / "profile"
        if prof.exists():
            shutil.rmtree(prof)
        shutil.copytree(course, prof)
        cmd = [sys.executable, "-m", "autograder.classgrade", ASSIGNMENT, "--no-feedback"]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        runs_plain, runs_ours, loads = [], [], [os.getloadavg()[0]]
        for r in range(args.repeat):  # alternate, fresh copies each time
            plain, ours = base / f"plain{r}", base / f"ours{r}"
            for target in (plain, ours):
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(course, target)
            runs_plain.append(
                timed(
                    [str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--log-level=ERROR"],
                    plain,
                    env,
                )
            )
            loads.append(os.getloadavg()[0])
            runs_ours.append(timed(cmd, ours, env))
            loads.append(os.getloadavg()[0])
        t_plain, t_ours = min(runs_plain), min(runs_ours)
        load0, load1, load2 = loads[0], loads[-2], loads[-1]

        a, b = scores(plain), scores(ours)
        n = args.size
        same = a == b and len(a) == n
        print()
        print(
            f"submissions: {n}; cores: {os.cpu_count()}; "
            f"workers: {args.workers or os.cpu_count()}; "
            f"sandbox: {'off (--unsafe)' if args.unsafe else 'on'}"
        )
        print(
            f"load average (1 min) before/last between/after: {load0:.1f} / {load1:.1f} / "
            f"{load2:.1f}  (other work on the machine makes the figures noisy)"
        )
        print(
            f"plain `nbgrader autograde` (1 call, sequential): {t_plain:7.1f} s  "
            f"= {t_plain / n:5.2f} s per submission"
        )
        print(
            f"`grade_class --no-feedback`:                     {t_ours:7.1f} s  "
            f"= {t_ours / n:5.2f} s per submission"
        )
        if args.repeat > 1:
            print(
                f"  (best of {args.repeat}; all runs: plain "
                f"{', '.join(f'{t:.1f}' for t in runs_plain)} s, grade_class "
                f"{', '.join(f'{t:.1f}' for t in runs_ours)} s)"
            )
        print(f"speed-up: {t_plain / t_ours:.2f}x")
        print(f"scores identical for all {len(a)} submissions: {'yes' if same else 'NO'}")
        if not same:
            for sid in sorted(set(a) | set(b)):
                if a.get(sid) != b.get(sid):
                    print(f"  {sid}: plain {a.get(sid)} vs grade_class {b.get(sid)}")
        results = json.loads((ours / "reports" / "results.json").read_text())["students"]
        per_nb = [r["timing"].get("autograde", 0.0) for r in results if r["timing"]]
        if per_nb:
            print(
                f"grade_class: autograde per notebook inside a worker: mean "
                f"{sum(per_nb) / len(per_nb):.2f} s (min {min(per_nb):.2f}, "
                f"max {max(per_nb):.2f}) with workers in parallel"
            )

        if args.breakdown_of:
            students = sorted(a)[: args.breakdown_of]
            phases = breakdown(prof, students)
            total = phases.pop("total")
            print()
            print(
                f"where one notebook's autograde goes (in-process, sequential, mean of "
                f"{len(students)}): {total:.2f} s"
            )
            for key, value in sorted(phases.items(), key=lambda kv: -kv[1]):
                print(f"  {key:48s} {value:6.2f} s  {100 * value / total:4.0f} %")
            cores = os.cpu_count() or 1
            overhead = phases.get("nbgrader overhead (files, gradebook, export)", 0.0)
            print(
                f"floor: one kernel start + execution + verdicts per notebook, spread "
                f"over {cores} cores: ~{(total - max(0.0, overhead)) / cores:.2f} s per "
                f"submission without nbgrader overhead, ~{total / cores:.2f} s with it "
                f"(plain CLI start-up ~6 s once per call is extra)"
            )
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
