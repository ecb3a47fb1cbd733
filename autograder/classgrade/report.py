"""HTML report of a class grading run, with PNG plots (matplotlib, Agg backend).

``build_report(results, report_dir)`` writes into ``report_dir``:

- ``index.html``: summary, table per student (status, score, cells, time), plots;
- ``scores.png``: histogram of total scores of graded students;
- ``cell_pass_rate.png``: share of graded students with full points, per graded cell;
- ``statuses.png``: number of students per status;
- ``time_per_submission.png``: grading time per graded submission;
- ``report.json``: the data behind every plot (what the tests check).

``summary_text(results, ...)`` is the plain-text summary the command prints.

``results`` are objects with the attributes of
:class:`autograder.classgrade.results.StudentResult` (student_id, status, detail,
score, max_score, cells, seconds, seconds_late).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from autograder.classgrade.results import GRADED, LATE, STATUSES, StudentResult

GRADED_STATUSES = (GRADED, LATE)
PLOTS = {
    "scores": "scores.png",
    "cell_pass_rate": "cell_pass_rate.png",
    "statuses": "statuses.png",
    "time_per_submission": "time_per_submission.png",
}
STATUS_ORDER = STATUSES


def plot_data(results) -> dict:
    """The numbers behind the plots."""
    graded = [r for r in results if r.status in GRADED_STATUSES and r.score is not None]
    max_score = max((r.max_score or 0 for r in graded), default=0.0)
    scores = [float(r.score) for r in graded]
    n_bins = max(1, int(round(max_score))) if max_score else 10
    edges = [max_score * i / n_bins if max_score else float(i) for i in range(n_bins + 1)]
    counts = [0] * n_bins
    for s in scores:
        index = min(n_bins - 1, int(s / max_score * n_bins)) if max_score else 0
        counts[index] += 1

    cell_names = []
    for r in graded:
        for name in r.cells:
            if name not in cell_names:
                cell_names.append(name)
    pass_rate = {}
    for name in cell_names:
        outcomes = [r.cells[name] for r in graded if name in r.cells]
        full = sum(
            1 for score, top in outcomes if score is not None and top and abs(score - top) < 1e-9
        )
        pass_rate[name] = {
            "passed": full,
            "total": len(outcomes),
            "rate": full / len(outcomes) if outcomes else 0.0,
        }

    statuses = {s: 0 for s in STATUS_ORDER}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    statuses = {k: v for k, v in statuses.items() if v}

    times = {r.student_id: float(r.seconds) for r in graded if r.seconds is not None}
    return {
        "n_students": len(results),
        "scores": {"values": scores, "max_score": max_score, "bin_edges": edges, "counts": counts},
        "cell_pass_rate": pass_rate,
        "statuses": statuses,
        "time_per_submission": times,
    }


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)


def draw_plots(data: dict, report_dir: Path) -> dict:
    paths = {key: report_dir / name for key, name in PLOTS.items()}

    fig, ax = plt.subplots(figsize=(6, 3.5))
    s = data["scores"]
    edges = s["bin_edges"]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    ax.bar(edges[:-1], s["counts"], width=widths, align="edge", edgecolor="black")
    ax.set_xlabel(f"total score (max {s['max_score']:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Scores of {len(s['values'])} graded submissions")
    _save(fig, paths["scores"])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(data["cell_pass_rate"])
    rates = [100 * data["cell_pass_rate"][n]["rate"] for n in names]
    ax.barh(names[::-1], rates[::-1], color="tab:green")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded students with full points")
    ax.set_title("Pass rate per graded cell")
    _save(fig, paths["cell_pass_rate"])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = list(data["statuses"])
    ax.bar(labels, [data["statuses"][k] for k in labels], color="tab:blue")
    ax.set_ylabel("students")
    ax.set_title("Status of each student")
    ax.tick_params(axis="x", rotation=30)
    _save(fig, paths["statuses"])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    times = data["time_per_submission"]
    ordered = sorted(times.items(), key=lambda kv: kv[1])
    ax.bar(range(len(ordered)), [t for _, t in ordered], color="tab:orange")
    ax.set_xlabel("graded submissions, sorted by time")
    ax.set_ylabel("seconds (worker wall time)")
    ax.set_title("Grading time per submission")
    _save(fig, paths["time_per_submission"])
    return paths


def _fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}".rstrip("0").rstrip(".")


def render_html(results, data: dict, assignment: str) -> str:
    esc = html.escape
    cell_names = list(data["cell_pass_rate"])
    rows = []
    for r in sorted(results, key=lambda r: r.student_id):
        cells = "".join(
            f"<td>{_fmt(r.cells[n][0]) if n in r.cells else ''}</td>" for n in cell_names
        )
        cls = "bad" if r.needs_instructor else ""
        rows.append(
            f"<tr class='{cls}'><td>{esc(r.student_id)}</td><td>{esc(r.status)}</td>"
            f"<td>{_fmt(r.score)}</td><td>{_fmt(r.max_score)}</td>{cells}"
            f"<td>{_fmt(r.seconds, 1)}</td><td>{esc(r.detail or '')}</td></tr>"
        )
    header = "".join(f"<th>{esc(n)}</th>" for n in cell_names)
    statuses = ", ".join(f"{v} {esc(k)}" for k, v in data["statuses"].items())
    plots = "".join(f"<img src='{name}' alt='{key}'>" for key, name in PLOTS.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Grading report: {esc(assignment)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
tr.bad {{ background: #fdd; }} img {{ margin: 4px; border: 1px solid #eee; }}
</style></head><body>
<h1>Grading report: {esc(assignment)}</h1>
<p>{data["n_students"]} students: {statuses}.</p>
<div>{plots}</div>
<h2>Students</h2>
<table><tr><th>student</th><th>status</th><th>score</th><th>max</th>{header}
<th>seconds</th><th>detail</th></tr>
{"".join(rows)}
</table></body></html>
"""


def build_report(results, report_dir, assignment: str = "one_neuron") -> Path:
    """Write index.html, the PNG plots and report.json; return index.html's path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    data = plot_data(results)
    draw_plots(data, report_dir)
    (report_dir / "report.json").write_text(json.dumps(data, indent=1))
    index = report_dir / "index.html"
    index.write_text(render_html(results, data, assignment), encoding="utf-8")
    return index


def summary_text(
    results: list[StudentResult], grades_csv: Path, report_dir: Path | None, with_roster: bool
) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines = ["", "Summary: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    attention = [r for r in results if r.needs_instructor]
    strangers = [r for r in results if with_roster and not r.on_roster]
    if attention or strangers:
        lines.append("Needs the instructor:")
        for r in attention:
            lines.append(f"  {r.student_id}: {r.status}: {r.detail}")
        for r in strangers:
            lines.append(f"  {r.student_id}: not on the roster (check the student id)")
    else:
        lines.append("Nothing needs the instructor.")
    late = [r for r in results if r.status == LATE]
    for r in late:
        lines.append(f"  {r.student_id}: late by {r.seconds_late / 3600:.1f} h (graded)")
    lines.append(f"Grades: {grades_csv}")
    if report_dir is not None:
        lines.append(f"Report: {report_dir / 'index.html'}")
    return "\n".join(lines)
