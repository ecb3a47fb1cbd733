"""Seconds per submission: the local pool vs Dask (1 and 2 workers) on this machine,
and where Dask's overhead goes. Prints figures, asserts nothing.

    python benchmarks/bench_distributed.py [--size 8]

Each engine grades the same synthetic class (gradable submissions only) in a
fresh copy of the course. Dask runs on a real ``dask scheduler`` and ``dask
worker`` processes on 127.0.0.1 (started before the clock, as a cluster would
be). Overheads: pickling the course snapshot and one submission, a no-op task's
round trip through the scheduler, the start of a worker's grading process
(nbgrader import and scratch course), and a LocalCluster for comparison.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _fresh(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def _per_submission(seconds: float, n: int) -> str:
    return f"{seconds:7.1f} s total, {seconds / n:5.2f} s per submission"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8, help="gradable submissions (default 8)")
    args = parser.parse_args(argv)

    from services import dask_cluster

    from autograder.classgrade import distributed
    from autograder.classgrade.database import task_gradebook
    from autograder.classgrade.run import grade_class
    from autograder.classgrade.task import GradingTask, course_snapshot
    from fixtures import synthetic_class

    tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    try:
        template = tmp / "template"
        synthetic_class.build_class(template, size=args.size, broken=False)
        n = args.size
        quiet = lambda *a: None  # noqa: E731

        t = time.perf_counter()
        grade_class(course_dir=_fresh(template, tmp / "local"), workers=2, log=quiet)
        print(f"local pool, 2 processes : {_per_submission(time.perf_counter() - t, n)}")

        for workers in (1, 2):
            with dask_cluster(workers) as cluster:
                t = time.perf_counter()
                grade_class(
                    course_dir=_fresh(template, tmp / f"dask{workers}"),
                    scheduler=cluster.address,
                    log=quiet,
                )
                took = time.perf_counter() - t
                print(f"dask, {workers} worker(s)       : {_per_submission(took, n)}")
                if workers == 2:
                    with cluster.client() as client:
                        client.submit(int, 0).result()
                        t = time.perf_counter()
                        for i in range(20):
                            client.submit(int, i, pure=False).result()
                        rtt = (time.perf_counter() - t) / 20
                    print(f"  scheduling: a no-op task's round trip {rtt * 1000:.1f} ms")

        course = course_snapshot(
            template,
            "one_neuron",
            task_gradebook(f"sqlite:///{template}/gradebook.db", "one-neuron", template),
        )
        sub = template / "submitted" / "s001" / "one_neuron"
        job = GradingTask(
            "s001", "one_neuron", {p.name: p.read_bytes() for p in sub.iterdir() if p.is_file()}
        )
        for name, obj in (("course snapshot", course), ("one submission", job)):
            t = time.perf_counter()
            data = pickle.dumps(obj)
            took = time.perf_counter() - t
            print(f"  serialization: {name} {len(data) / 1024:.0f} KiB in {took * 1000:.1f} ms")
        t = time.perf_counter()
        child = distributed._Child(course, unsafe=False, local_dir=None)
        child.wait_ready(120)
        print(f"  worker start: grading process ready in {time.perf_counter() - t:.1f} s (once)")
        child.kill()

        from distributed import Client, LocalCluster

        t = time.perf_counter()
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as lc,
            Client(lc) as client,
        ):
            started = time.perf_counter() - t
            t = time.perf_counter()
            grade_class(
                course_dir=_fresh(template, tmp / "localcluster"),
                scheduler=client.scheduler.address,
                log=quiet,
            )
            took = time.perf_counter() - t
        print(f"LocalCluster, 2 workers : {_per_submission(took, n)} (+{started:.1f} s start)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
