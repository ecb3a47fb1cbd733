"""What work done more than once per notebook costs (issue 12, item 2).

    PATH=$PWD/.venv/bin:$PATH python benchmarks/bench_repeated_work.py [--json PATH]

Times, on one gradable submission of a synthetic class, each item the issue names,
so that only what is measurably worth it gets changed:

- the symlink walks over the submission (pre-check ``find_symlinks``, collect's
  ``read_folder``, ``RejectSymlinks``' ``find_symlinks``, ``SandboxedExecute``'s
  ``symlinked_entries``);
- the gradebook read for cell flags (``gradebook_cells``: RestoreCellMetadata and
  TrustedVerdict each call it);
- the notebook's JSON parsed in the pre-check (``notebook_problem`` and
  ``notebook_notes`` each parse it);
- start-up imports of a fresh interpreter (numpy, matplotlib + the inline backend,
  ipykernel), which every kernel and every verdict worker pays;
- the sandboxed verdict worker: start, and one call round trip (the 1000 backprop
  calls of the final-accuracy check), plus the share of it that is encoding.

Each figure is the best of several repeats (the machine is shared; load printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from autograder.assignment.contract import ASSIGNMENT, NOTEBOOK  # noqa: E402


def best(fn, repeat: int = 7, number: int = 1) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


KERNEL_PROGRAM = """
import nbformat.v4 as v4
from autograder.preprocessors.sandboxed_execute import SandboxedExecute
code = {code}
if code is not None:
    nb = v4.new_notebook(cells=[v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {{"name": "python3", "display_name": "Python 3"}}
    SandboxedExecute(timeout=120).preprocess(nb, {{"metadata": {{"path": "/tmp"}}}})
    assert not any(o.get("output_type") == "error" for o in nb.cells[0].outputs), nb
"""


def python_start(code: str, repeat: int = 5) -> float:
    """Least CPU seconds (user + system) of ``python -c code`` (a fresh interpreter):
    CPU time, unlike wall time, barely depends on the other work on the machine."""
    cpu = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="save the figures here")
    args = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    import jsonschema
    import numpy as np
    from nbgrader.nbgraderformat import MetadataValidator

    from autograder.classgrade.collect import read_folder
    from autograder.classgrade.precheck import check_submission, notebook_notes, notebook_problem
    from autograder.preprocessors.check_nbgrader_metadata import notebook_metadata_problem
    from autograder.preprocessors.reject_symlinks import find_symlinks
    from autograder.preprocessors.restore_cell_metadata import gradebook_cells
    from autograder.preprocessors.trusted_verdict import load_assignment
    from autograder.sandbox import wire
    from autograder.sandbox.kernel import symlinked_entries
    from fixtures import synthetic_class

    figures: dict[str, float] = {}
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-repeated-") as tmp:
        course = Path(tmp) / "class"
        synthetic_class.build_class(course, size=2, broken=False, duedate=None)
        folder = next((course / "submitted").iterdir()) / ASSIGNMENT
        nb_path = folder / f"{NOTEBOOK}.ipynb"
        figures["symlink walk: precheck find_symlinks"] = best(
            lambda: find_symlinks(folder, parents=1), number=100
        )
        figures["symlink walk: collect read_folder (reads the files too)"] = best(
            lambda: read_folder(folder), number=100
        )
        figures["symlink walk: SandboxedExecute symlinked_entries"] = best(
            lambda: symlinked_entries(str(folder)), number=100
        )
        figures["pre-check: notebook_problem (parse 1)"] = best(
            lambda: notebook_problem(nb_path), number=20
        )
        figures["pre-check: notebook_notes (parse 2)"] = best(
            lambda: notebook_notes(nb_path), number=20
        )
        figures["pre-check: check_submission (whole)"] = best(
            lambda: check_submission(folder, [NOTEBOOK]), number=20
        )
        figures["pre-check: json.loads of the notebook"] = best(
            lambda: json.loads(nb_path.read_bytes()), number=20
        )
        resources = {
            "nbgrader": {
                "db_url": f"sqlite:///{course / 'gradebook.db'}",
                "notebook": NOTEBOOK,
                "assignment": ASSIGNMENT,
            }
        }
        parsed = json.loads(nb_path.read_bytes())
        figures["pre-check: notebook_metadata_problem"] = best(
            lambda: notebook_metadata_problem(parsed), number=5
        )
        schema = MetadataValidator().schema
        cell_meta = [
            c["metadata"]["nbgrader"] for c in parsed["cells"] if "nbgrader" in c["metadata"]
        ]
        figures["  of it: jsonschema.validate per nbgrader cell (x cells)"] = best(
            lambda: [jsonschema.validate(m, schema) for m in cell_meta], number=5
        )
        validator = jsonschema.validators.validator_for(schema)(schema)
        figures["  the same with one validator built once"] = best(
            lambda: [jsonschema.exceptions.best_match(validator.iter_errors(m)) for m in cell_meta],
            number=5,
        )
        figures["gradebook_cells (one of two reads)"] = best(
            lambda: gradebook_cells(resources), number=5
        )

    base = python_start("pass")
    figures["python start, CPU (nothing imported)"] = base
    for label, code in [
        ("import numpy", "import numpy"),
        ("import matplotlib.pyplot", "import matplotlib.pyplot"),
        (
            "import ipykernel kernelapp + inline backend",
            "import ipykernel.kernelapp, matplotlib_inline.backend_inline",
        ),
        (
            "all of them (what a kernel imports)",
            "import numpy, matplotlib.pyplot, ipykernel.kernelapp, "
            "matplotlib_inline.backend_inline",
        ),
    ]:
        figures[f"fresh interpreter, CPU: {label} (minus start)"] = python_start(code) - base

    # A sandboxed kernel (SandboxedExecute on a one-cell notebook): CPU of the whole
    # tree, sandbox included, against the same program that executes nothing.
    from bench_throughput import run_measured

    for label, code in [
        ("nothing executed (baseline)", None),
        ("kernel start + `pass`", "pass"),
        (
            "kernel start + numpy, matplotlib imports",
            "import numpy as np\nimport matplotlib.pyplot as plt",
        ),
        (
            "kernel start + imports + one inline plot",
            "import numpy as np\nimport matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()",
        ),
    ]:
        program = KERNEL_PROGRAM.format(code=repr(code))
        runs = [run_measured([sys.executable, "-c", program], ROOT) for _ in range(3)]
        figures[f"sandboxed kernel, CPU: {label}"] = min(r["cpu_s"] for r in runs)
    base_cpu = figures.pop("sandboxed kernel, CPU: nothing executed (baseline)")
    for key in [k for k in figures if k.startswith("sandboxed kernel, CPU:")]:
        figures[key] -= base_cpu

    # The verdict worker: start, one backprop round trip, encoding share.
    spec = load_assignment("autograder.assignment")
    from autograder.assignment import checks, reference

    X = np.linspace(-2, 2, 240)
    y = (X > 0).astype(float)
    worker = spec.worker(call_timeout=10.0)
    t0 = time.perf_counter()
    worker.start()
    worker.load([("backprop", "import numpy as np\n" + _reference_source(reference), ())])
    figures["verdict worker: start + load (sandboxed)"] = time.perf_counter() - t0
    net = checks.CheckNet(reference.INITIAL_W, reference.INITIAL_B, "reference")
    backprop = worker.function("backprop")
    with worker:
        backprop(net, X.copy(), y.copy(), lr=0.1)  # env installed on first use
        figures["verdict worker: one backprop call round trip"] = best(
            lambda: backprop(net, X.copy(), y.copy(), lr=0.1), repeat=5, number=100
        )
    figures["wire: encode args of one call (X, y, net)"] = best(
        lambda: [worker._encode_arg(v) for v in (net, X, y)],
        number=200,
    )
    figures["wire: encode_array of X (raw bytes + base64)"] = best(
        lambda: wire.encode_array(X), number=1000
    )
    encoded = wire.encode_array(X)
    figures["wire: decode_array of X"] = best(lambda: wire.decode_array(encoded), number=1000)
    figures["wire: pack a call message"] = best(
        lambda: wire.pack({"op": "call", "args": [worker._encode_arg(X)]}),
        number=200,
    )
    # Feedback: the release's formulas, drawn again for every student.
    import functools

    import nbformat

    from autograder.preprocessors import feedback_readable

    release = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    markdown = [cell.source for cell in release.cells if cell.cell_type == "markdown"]
    feedback_readable.render_math("$x$")  # matplotlib imported once
    figures["feedback: render_math of the release's markdown"] = best(
        lambda: [feedback_readable.render_math(text) for text in markdown], repeat=3
    )
    plain_svg = feedback_readable.tex_to_svg
    feedback_readable.tex_to_svg = functools.lru_cache(maxsize=1024)(plain_svg)
    try:
        figures["feedback: the same with tex_to_svg cached (warm)"] = best(
            lambda: [feedback_readable.render_math(text) for text in markdown], repeat=3
        )
    finally:
        feedback_readable.tex_to_svg = plain_svg
    deterministic = plain_svg(r"\sigma(x)") == plain_svg(r"\sigma(x)")
    figures["reference backprop itself (in-process)"] = best(
        lambda: reference.backprop(reference.Net(0.7, 0.1), X.copy(), y.copy(), lr=0.1),
        number=200,
    )

    print(f"tex_to_svg gives the same bytes for the same formula: {deterministic}")
    print(f"load before/after: {load0[0]:.1f} / {os.getloadavg()[0]:.1f}; nproc {os.cpu_count()}")
    for key, value in figures.items():
        print(f"  {key:62s} {1000 * value:9.3f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"load": [load0, os.getloadavg()], "seconds": figures}, indent=1)
        )
    return 0


def _reference_source(reference) -> str:
    import inspect

    return inspect.getsource(reference.backprop)


if __name__ == "__main__":
    sys.exit(main())
