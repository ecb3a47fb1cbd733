"""`make demo`: the course's whole grading path on bundled sample submissions.

1. Regenerates the release from the master with `nbgrader generate_assignment`.
2. Builds a scratch copy of the course in `.demo/samples/` with one submission per
   sample (perfect, untouched release, one typical mistake per function, taken from
   `fixtures.catalog`), grades them with plain `nbgrader autograde` (the CLI an
   instructor runs, with the course's sandbox and trusted verdicts), and prints each
   sample's points per function next to what the catalog expects.
3. Grades a synthetic class with the class-grading command and prints its summary.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.assignment import contract
from autograder.assignment.contract import ASSIGNMENT, NOTEBOOK

ROOT = Path(__file__).resolve().parents[1]

# Graded cells by the function they judge (columns of the table), from the contract;
# the cells that judge several functions together (the final accuracy) come last.
COLUMNS = [(function, list(contract.OWN_CELLS[function])) for function in contract.FUNCTIONS] + [
    ("accuracy", list(contract.JOINT_CELLS))
]


def _nbgrader(args, cwd):
    """Run an nbgrader CLI command with the venv first on PATH (nbgrader calls alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [str(Path(sys.executable).parent / "nbgrader"), *args]
    print("$", " ".join(["nbgrader", *args]), f"  (in {cwd})", flush=True)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} failed with exit code {result.returncode}")
    return result


# One typical mistake per function, taken from the catalog (with the reference
# solution in the other answer cells).
DEMO_MISTAKES = ["rs_not_stratified", "sig_naive_positive", "bce_no_clip", "bp_sign"]


def sample_answers():
    """(sample name, release notebook -> submission, expected points per grade cell)."""
    from fixtures import catalog, samples

    full = dict(contract.POINTS)
    yield "perfect", samples.perfect, full
    yield "untouched", samples.untouched, {cell: 0.0 for cell in full}
    for name in DEMO_MISTAKES:
        entry = catalog.BY_NAME[name]
        yield name, (lambda nb, e=entry: samples.for_entry(nb, e)), entry.expected_points()


def build_sample_course(course):
    """Scratch course with the master, the release and one submission per sample."""
    from fixtures import samples
    from fixtures.synthetic_class import copy_course

    copy_course(course)
    release_nb = samples.read_release(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    expected = {}
    for name, make, points in sample_answers():
        samples.write_submission(course, name, make(release_nb))
        expected[name] = points
    return expected


def read_scores(course, students):
    """{student: {grade_id: score}} from the scratch course's gradebook."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            except MissingEntry:
                scores[student] = None
                continue
            scores[student] = {grade.name: grade.score for grade in notebook.grades}
    return scores


def format_table(scores, expected):
    header = ["sample"] + [name for name, _ in COLUMNS] + ["total", "as expected"]
    rows = []
    for student, got in scores.items():
        want = expected[student]
        cells = [student]
        for _, grade_ids in COLUMNS:
            cells.append("n/a" if got is None else f"{sum(got[g] for g in grade_ids):g}")
        total = None if got is None else sum(got.values())
        cells.append("n/a" if total is None else f"{total:g}")
        agree = got is not None and all(abs(got[g] - want[g]) < 1e-9 for g in want)
        cells.append("yes" if agree else "NO")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def run_samples():
    _nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=ROOT)
    course = ROOT / ".demo" / "samples"
    expected = build_sample_course(course)
    _nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    _nbgrader(["autograde", ASSIGNMENT, "--create", "--force"], cwd=course)
    scores = read_scores(course, list(expected))
    print()
    print("Points per function of each sample (nbgrader autograde):")
    print(format_table(scores, expected))
    return all(
        scores[s] is not None
        and all(abs(scores[s][g] - expected[s][g]) < 1e-9 for g in expected[s])
        for s in expected
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--unsafe", action="store_true", help="grade without the sandbox (loud warning)"
    )
    parser.add_argument("--skip-class", action="store_true", help="only the sample table")
    args = parser.parse_args(argv)
    if args.unsafe:
        os.environ["ONE_NEURON_UNSAFE"] = "1"
    ok = run_samples()
    if not args.skip_class:
        from autograder.classgrade import cli as grade_class
        from fixtures import synthetic_class

        course = ROOT / ".demo" / "class"
        print()
        print(
            f"Synthetic class in {course.relative_to(ROOT)} (36 gradable, 7 broken, 1 missing):",
            flush=True,
        )
        synthetic_class.main([str(course)])
        class_args = [
            "--course-dir",
            str(course),
            ASSIGNMENT,
            "--roster",
            str(course / "roster.csv"),
            "--timeout",
            "60",
            *(["--unsafe"] if args.unsafe else []),
        ]
        print("$ python -m autograder.classgrade " + " ".join(class_args), flush=True)
        class_status = grade_class.main(class_args)
        # Exit status 1 is the expected outcome here: the broken submissions need the instructor.
        print(
            f"class grading exit status: {class_status} (1 expected: broken submissions need the instructor)"
        )
        print(f"report: {course / 'reports' / 'index.html'}; grades: {course / 'grades.csv'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
