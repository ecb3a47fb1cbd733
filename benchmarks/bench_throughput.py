"""Benchmark: class throughput, plain ``nbgrader autograde`` vs the class command.

    PATH=$PWD/.venv/bin:$PATH python benchmarks/bench_throughput.py \
        [--sizes 20,100,300] [--workers N] [--skip-plain] [--json PATH]

1. Builds a synthetic class of gradable submissions (``fixtures.synthetic_class``,
   ``broken=False``) for every size, each in a temporary course.
2. On the first size, grades one copy with ONE plain ``nbgrader autograde one_neuron``
   call (the course's own config: sandbox and trusted verdicts; sequential) and
   another with ``python -m autograder.classgrade one_neuron`` (feedback on, as by
   default: the feedback HTML carries the plots), both as subprocesses, start-up
   included; checks that every cell's score is identical in the two gradebooks and
   prints the ratio.
3. Times one notebook's stages in-process with the course's real preprocessors
   (kernel start, execution, trusted verdicts, other preprocessors, nbgrader's
   own work, generate_feedback).
4. Runs the class command on every size: seconds per submission, the parent's peak
   RSS (psutil, sampled), the gradebook merge time per student (the parent's
   ``merge_submission``, timed by a wrapper in the command's process), CPU seconds
   per notebook of the whole process tree (``RUSAGE_CHILDREN``), and the floor they
   imply: CPU seconds per notebook / cores.
5. Saves every figure with ``os.getloadavg()`` and the core count as JSON
   (``benchmarks/results/<UTC timestamp>.json`` unless ``--json``).

Wall-clock figures depend on the machine's load (printed next to them); nothing
here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.assignment.contract import ASSIGNMENT  # noqa: E402
from autograder.classgrade.app import ignore_nbgrader_sqlalchemy_warnings  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"


def _env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_measured(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd``: wall seconds, CPU seconds of its whole process tree, peak RSS of
    the process itself and of its tree.

    CPU: ``RUSAGE_CHILDREN`` counts every process reaped up the chain, but not what
    runs inside bubblewrap (its pid namespace's CPU is not passed up). Processes
    below a ``bwrap`` are therefore sampled with psutil every 0.1 s (the last
    < 0.1 s of each goes uncounted; ``sandboxed_processes`` says how many)."""
    import psutil

    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = load()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peak = {"parent": 0, "tree": 0}
    sandboxed: dict[tuple[int, float], float] = {}  # (pid, start) -> own CPU seconds

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
            while proc.poll() is None:
                rss = tree = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        tree += child.memory_info().rss
                        if child.name() != "bwrap":
                            continue
                        for inner in child.children(recursive=True):
                            with contextlib.suppress(psutil.Error):
                                if inner.name() != "bwrap":
                                    times = inner.cpu_times()
                                    key = (inner.pid, inner.create_time())
                                    sandboxed[key] = max(
                                        sandboxed.get(key, 0.0), times.user + times.system
                                    )
                peak["parent"] = max(peak["parent"], rss)
                peak["tree"] = max(peak["tree"], tree)
                time.sleep(0.1)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - t0
    sampler.join()
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.stderr.write(output[-4000:])
        raise SystemExit(f"{' '.join(map(str, cmd))} failed with {proc.returncode}")
    reaped = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {
        "wall_s": wall,
        "cpu_s": reaped + sum(sandboxed.values()),
        "cpu_reaped_s": reaped,
        "cpu_sandboxed_s": sum(sandboxed.values()),
        "sandboxed_processes": len(sandboxed),
        "peak_rss_parent_mb": peak["parent"] / 2**20,
        "peak_rss_tree_mb": peak["tree"] / 2**20,
        "load_before": load0,
        "load_after": load(),
    }


def class_child(out: str, argv: list[str]) -> int:
    """The class command with the parent's per-student merge timed (``--class-child``)."""
    from autograder.classgrade import cli, run

    times: dict[str, list[float]] = {"merge_submission": [], "store_outputs": []}

    def timed(name, fn):
        def wrapped(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name].append(time.perf_counter() - t0)

        return wrapped

    run.merge_submission = timed("merge_submission", run.merge_submission)
    run.store_outputs = timed("store_outputs", run.store_outputs)
    code = cli.main(argv)
    times["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps(times))
    return code


def class_command(course: Path, workers: int | None) -> dict:
    """Run the class command (feedback on) in ``course``; its figures."""
    merge_file = course / "bench-merge.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--class-child", str(merge_file)]
    cmd += ["--", ASSIGNMENT] + (["--workers", str(workers)] if workers else [])
    figures = run_measured(cmd, course)
    merge = json.loads(merge_file.read_text())
    merge_file.unlink()
    n = len(merge["merge_submission"])
    figures["merged"] = n
    figures["merge_ms_per_student"] = 1000 * sum(merge["merge_submission"]) / max(1, n)
    figures["merge_ms_max"] = 1000 * max(merge["merge_submission"], default=0.0)
    figures["store_outputs_ms_per_student"] = 1000 * sum(merge["store_outputs"]) / max(1, n)
    figures["ru_maxrss_parent_mb"] = merge["ru_maxrss_mb"]
    feedback = sorted((course / "feedback").glob(f"*/{ASSIGNMENT}/*.html"))
    figures["feedback_files"] = len(feedback)
    figures["feedback_with_plots"] = sum(
        "data:image/png" in p.read_text(errors="replace") for p in feedback
    )
    return figures


def scores(course: Path) -> dict[str, dict[str, float | None]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            sub.student.id: {
                f"{nb.name}/{g.name}": g.auto_score for nb in sub.notebooks for g in nb.grades
            }
            for sub in gb.assignment_submissions(ASSIGNMENT)
        }


def breakdown(course: Path, students: list[str]) -> dict:
    """Mean seconds per stage of autograding and feedback of ``students``, in-process,
    with the course's own preprocessors (wrapped by timers)."""
    from nbgrader.converters import Autograde, GenerateFeedback

    from autograder.classgrade import app as gc

    stages: dict[str, float] = defaultdict(float)
    detail: dict[str, float] = defaultdict(float)  # other preprocessors, one by one
    feedback: dict[str, float] = defaultdict(float)  # feedback preprocessors, one by one

    def timer(key, fn, sub=None, into=detail):
        def wrapped(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                if key:
                    stages[key] += time.perf_counter() - t0
                if sub:
                    into[sub] += time.perf_counter() - t0

        return wrapped

    class TimedAutograde(Autograde):
        def _init_preprocessors(self):
            super()._init_preprocessors()
            for pp in self.exporter._preprocessors:
                name = type(pp).__name__
                if name == "SandboxedExecute":
                    # setup_kernel calls these through self: time them per instance
                    pp.start_new_kernel = timer("kernel start", pp.start_new_kernel)
                    pp.start_new_kernel_client = timer("kernel start", pp.start_new_kernel_client)
                    pp.preprocess = timer("execution", pp.preprocess)
                elif name == "TrustedVerdict":
                    pp.preprocess = timer("trusted verdicts", pp.preprocess)
                else:
                    pp.preprocess = timer("other preprocessors", pp.preprocess, name)

    class TimedFeedback(GenerateFeedback):
        def convert_single_notebook(self, notebook_filename):
            for pp in self.exporter._preprocessors:
                if not hasattr(pp, "bench_timed"):
                    name = type(pp).__name__
                    pp.preprocess = timer(None, pp.preprocess, name, feedback)
                    pp.bench_timed = True
            super().convert_single_notebook(notebook_filename)

    app = gc.make_app(course, log_level="CRITICAL")
    app.coursedir.assignment_id = ASSIGNMENT
    autograde_total = feedback_total = 0.0
    for sid in students:
        app.coursedir.student_id = sid
        t0 = time.perf_counter()
        TimedAutograde(coursedir=app.coursedir, parent=app, force=True).start()
        t1 = time.perf_counter()
        TimedFeedback(coursedir=app.coursedir, parent=app, force=True).start()
        autograde_total += t1 - t0
        feedback_total += time.perf_counter() - t1
    n = len(students)
    out = {k: v / n for k, v in stages.items()}
    out["execution"] -= out.get("kernel start", 0.0)  # kernel start runs inside preprocess
    out["nbgrader overhead"] = (
        autograde_total / n - sum(v for k, v in stages.items() if k != "kernel start") / n
    )
    out["feedback (generate_feedback)"] = feedback_total / n
    out["total"] = (autograde_total + feedback_total) / n
    fb = {k: v / n for k, v in feedback.items()}
    fb["HTML export, files and gradebook (rest)"] = feedback_total / n - sum(fb.values())
    return {
        "stages": out,
        "other_preprocessors": {k: v / n for k, v in detail.items()},
        "feedback": fb,
    }


# What every student's grading starts with, whatever is shared across the class: bubblewrap
# can only exec a program, so each sandbox is a fresh interpreter that imports what the
# notebook's kernel (ipykernel, numpy, matplotlib with the inline backend) and the verdict
# worker (numpy) need. Measured inside the sandbox (the process's own CPU time).
FRESH_INTERPRETERS = {
    "kernel": "import ipykernel.kernelapp, ipykernel.ipkernel, numpy, matplotlib; "
    "matplotlib.use('module://matplotlib_inline.backend_inline'); import matplotlib.pyplot",
    "verdict worker": "import numpy",
}


def interpreter_floor(rounds: int = 5) -> dict[str, float]:
    """Median CPU seconds of each fresh sandboxed interpreter's imports (font list bound
    as for a kernel)."""
    import statistics

    from autograder.sandbox import bubblewrap as sandbox
    from autograder.sandbox.kernel import KERNEL_LIMITS, matplotlib_font_cache

    font_cache = matplotlib_font_cache()
    home = [(font_cache, f".config/matplotlib/{Path(font_cache).name}")] if font_cache else []
    sandboxed = sandbox.require_sandbox(None)
    out = {}
    for name, code in FRESH_INTERPRETERS.items():
        program = (
            f"{code}\nimport resource\nr = resource.getrusage(resource.RUSAGE_SELF)\n"
            "print(r.ru_utime + r.ru_stime)"
        )
        argv = sandbox.build_command(
            [sys.executable, "-P", "-c", program],
            sandboxed=sandboxed,
            home_files=home if sandboxed else [],
            limits=KERNEL_LIMITS,
        )
        runs = []
        for _ in range(rounds):
            done = subprocess.run(argv, capture_output=True, text=True, check=True)
            runs.append(float(done.stdout.split()[-1]))
        out[name] = statistics.median(runs)
    return out


def notebook_code_cpu() -> float:
    """CPU seconds of the reference notebook's own code (its code cells with the visible
    checks, plots drawn to PNG as the inline backend does), run in this process after
    its imports: the student's share of a kernel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat

    nb = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    namespace: dict = {}
    code = [c.source.split("### BEGIN HIDDEN TESTS")[0] for c in nb.cells if c.cell_type == "code"]
    exec(compile(code[0], "imports", "exec"), namespace)  # imports: counted above
    t0 = time.process_time()
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        for source in code[1:]:
            exec(compile(source.replace("plt.show()", ""), "cell", "exec"), namespace)
            for number in plt.get_fignums():
                plt.figure(number).savefig(io.BytesIO(), format="png")
            plt.close("all")
    return time.process_time() - t0


def build(base: Path, size: int) -> Path:
    from fixtures import synthetic_class

    course = base / f"class-{size}"
    synthetic_class.build_class(course, size=size, broken=False, duedate=None)
    return course


def copy(course: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(course, target, symlinks=True)
    return target


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--class-child"]:
        return class_child(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,100,300", help="class sizes (first: the ratio)")
    parser.add_argument("--workers", type=int, default=None, help="class command's --workers")
    parser.add_argument("--skip-plain", action="store_true", help="no plain nbgrader run")
    parser.add_argument("--breakdown-of", type=int, default=3, help="notebooks (0: none)")
    parser.add_argument("--json", type=Path, help="where to save the figures")
    parser.add_argument("--keep", type=Path, help="keep the temporary courses here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: positive integers, comma-separated")
    os.environ.update(_env())
    ncores = cores()
    report: dict = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": ncores,
        "cpu_count": os.cpu_count(),
        "workers": args.workers or ncores,
        "sizes": sizes,
        "load_start": load(),
    }
    out = args.json or RESULTS / (
        datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every stage: a run cut short keeps what it measured
        report["load_now"] = load()
        out.write_text(json.dumps(report, indent=1))

    base = Path(args.keep or tempfile.mkdtemp(prefix="bench-throughput-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        first = sizes[0]
        course = build(base, first)
        print(f"nproc {ncores}; load {load()}; class of {first} in {course}", flush=True)
        if not args.skip_plain:
            plain = copy(course, base / "plain")
            ours = copy(course, base / "ours")
            cmd = [str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--log-level=ERROR"]
            p = run_measured(cmd, plain)
            c = class_command(ours, args.workers)
            a, b = scores(plain), scores(ours)
            same = a == b and len(a) == first
            report["ratio"] = {
                "size": first,
                "plain": p,
                "class": c,
                "plain_s_per_sub": p["wall_s"] / first,
                "class_s_per_sub": c["wall_s"] / first,
                "ratio": p["wall_s"] / c["wall_s"],
                "scores_identical": same,
                "cells_compared": sum(len(v) for v in a.values()),
            }
            r = report["ratio"]
            print(f"\n== ratio: {first} submissions, sandbox + trusted verdicts ==")
            print(
                f"plain `nbgrader autograde` (1 call, sequential): {p['wall_s']:7.1f} s = "
                f"{r['plain_s_per_sub']:.2f} s/sub, {p['cpu_s'] / first:.2f} CPU-s/nb  "
                f"(load {p['load_before'][0]} -> {p['load_after'][0]})"
            )
            print(
                f"class command, feedback on ({report['workers']} workers): {c['wall_s']:7.1f} s = "
                f"{r['class_s_per_sub']:.2f} s/sub, {c['cpu_s'] / first:.2f} CPU-s/nb  "
                f"(load {c['load_before'][0]} -> {c['load_after'][0]}); "
                f"feedback {c['feedback_with_plots']}/{c['feedback_files']} with plots"
            )
            print(f"ratio: {r['ratio']:.2f}x")
            print(
                f"every cell's score identical ({r['cells_compared']} cells of {len(a)} "
                f"submissions): {'yes' if same else 'NO'}"
            )
            save()
            if not same:
                for sid in sorted(set(a) | set(b)):
                    if a.get(sid) != b.get(sid):
                        print(f"  {sid}: plain {a.get(sid)} vs class {b.get(sid)}")
        if args.breakdown_of:
            prof = copy(course, base / "profile")
            students = sorted(p.name for p in (prof / "submitted").iterdir())[: args.breakdown_of]
            load0 = load()
            with warnings.catch_warnings():
                ignore_nbgrader_sqlalchemy_warnings()
                bd = breakdown(prof, students)
            bd.update(notebooks=len(students), load_before=load0, load_after=load())
            report["breakdown"] = bd
            save()
            total = bd["stages"]["total"]
            print(
                f"\n== one notebook, in-process, sequential (mean of {len(students)}; "
                f"load {load0[0]} -> {bd['load_after'][0]}): {total:.2f} s =="
            )
            for key, value in sorted(bd["stages"].items(), key=lambda kv: -kv[1]):
                if key != "total":
                    print(f"  {key:32s} {value:6.2f} s  {100 * value / total:4.0f} %")
            others = ", ".join(
                f"{k} {1000 * v:.0f} ms"
                for k, v in sorted(bd["other_preprocessors"].items(), key=lambda kv: -kv[1])
            )
            print(f"  (other preprocessors: {others})")
            parts = ", ".join(
                f"{k} {1000 * v:.0f} ms"
                for k, v in sorted(bd["feedback"].items(), key=lambda kv: -kv[1])
            )
            print(f"  (feedback: {parts})")
        report["scaling"] = []
        print("\n== class command, feedback on: scaling ==")
        print(
            f"{'subs':>5} {'wall s':>8} {'s/sub':>6} {'CPU-s/nb':>8} {'floor s/sub':>11} "
            f"{'parent MB':>9} {'tree MB':>8} {'merge ms/st':>11} {'load':>10}"
        )
        for size in sizes:
            if size == first and "ratio" in report:
                c = report["ratio"]["class"]
            else:
                sized = course if size == first else build(base, size)
                c = class_command(copy(sized, base / f"ours-{size}"), args.workers)
                if size != first:
                    shutil.rmtree(sized, ignore_errors=True)
            row = dict(c, size=size)
            row["s_per_sub"] = c["wall_s"] / size
            row["cpu_s_per_nb"] = c["cpu_s"] / size
            row["floor_s_per_sub"] = row["cpu_s_per_nb"] / ncores
            report["scaling"].append(row)
            save()
            print(
                f"{size:5d} {c['wall_s']:8.1f} {row['s_per_sub']:6.2f} "
                f"{row['cpu_s_per_nb']:8.2f} {row['floor_s_per_sub']:11.2f} "
                f"{c['peak_rss_parent_mb']:9.0f} {c['peak_rss_tree_mb']:8.0f} "
                f"{c['merge_ms_per_student']:11.1f} "
                f"{c['load_before'][0]:4.1f}->{c['load_after'][0]:<4.1f}",
                flush=True,
            )
        cpu_nb = min(row["cpu_s_per_nb"] for row in report["scaling"])
        floor = cpu_nb / ncores
        report["floor"] = {"cpu_s_per_nb": cpu_nb, "cores": ncores, "s_per_sub": floor}
        print(
            f"\nfloor on this machine: {cpu_nb:.2f} CPU-s per notebook (class command, "
            f"feedback included) / {ncores} cores = {floor:.2f} s per submission"
        )
        if "ratio" in report:
            r = report["ratio"]
            plain_cpu = r["plain"]["cpu_s"] / r["size"]
            by_wall = r["plain_s_per_sub"] / floor
            by_cpu = ncores * plain_cpu / cpu_nb
            report["floor"].update(
                plain_cpu_s_per_nb=plain_cpu, ratio_ceiling_wall=by_wall, ratio_ceiling_cpu=by_cpu
            )
            print(
                f"ceiling of the ratio at that floor: plain's {r['plain_s_per_sub']:.2f} s/sub "
                f"/ {floor:.2f} = {by_wall:.2f}x (load-dependent); from CPU alone "
                f"{ncores} cores x {plain_cpu:.2f} CPU-s/nb of plain (no feedback) / "
                f"{cpu_nb:.2f} = {by_cpu:.2f}x\n"
                f"3x needs <= {ncores * plain_cpu / 3:.2f} CPU-s per notebook in the class "
                f"command (= plain's CPU x {ncores}/3, feedback included)"
            )
        fresh = interpreter_floor()
        own = notebook_code_cpu()
        fixed = sum(fresh.values())
        report["fresh_interpreters"] = dict(fresh, notebook_code=own)
        print(
            "\nper student, before any sharing can help: fresh sandboxed interpreters "
            + ", ".join(f"{k} {v:.2f}" for k, v in fresh.items())
            + f" CPU-s; the notebook's own code {own:.2f} CPU-s (reference, plots drawn)"
        )
        if "ratio" in report:
            need = ncores * report["ratio"]["plain_s_per_sub"] / 3
            report["fresh_interpreters"]["cpu_s_per_nb_for_3x"] = need
            print(
                f"3x of plain's {report['ratio']['plain_s_per_sub']:.2f} s/sub on {ncores} cores "
                f"allows {need:.2f} CPU-s per notebook in all (fully busy cores); the fresh "
                f"interpreters and the notebook's code alone take {fixed + own:.2f} "
                f"({100 * (fixed + own) / need:.0f} %), before nbgrader, the checks and feedback"
            )
        report["load_end"] = load()
        save()
        print(f"\nfigures saved to {out}; load at the end {report['load_end']}")
        return 0 if report.get("ratio", {}).get("scores_identical", True) else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
