"""HTML report of a class grading run, with PNG plots (matplotlib, Agg backend).

``build_report(results, report_dir, ...)`` writes into ``report_dir``:

- ``index.html``: what needs the instructor first (with the reason in view), then
  every student with roster names, status, score, points per graded cell and
  links to the student's feedback and log; for each graded cell, the failure
  messages the class got most often and how many students got each; the plots;
- ``scores.png``: histogram of total scores of graded students;
- ``cell_pass_rate.png``: share of graded students with full points, per graded cell;
- ``statuses.png``: number of students per status;
- ``time_per_submission.png``: grading time per graded submission;
- ``report.json``: the data behind every plot and table (what the tests check).

With ``course_dir`` the report also reads, never writes, the course's files:
``autograded/`` (the verdict messages of failing graded cells; the names of
cells that a detail calls "cell N"), ``submitted/`` and ``release/`` (an answer
cell identical to the release's still holds the stub: a notebook with every
answer cell so is flagged "untouched") and ``feedback/`` (links).

Everything that came from a student (ids, names, file names, messages) is
HTML-escaped by jinja2's autoescape.

``summary_text(results, ...)`` is the plain-text summary the command prints.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import json
import os
import re
import urllib.parse
from pathlib import Path

import jinja2
import matplotlib
from markupsafe import Markup, escape

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from autograder.classgrade.results import GRADED, LATE, STATUSES, StudentResult

GRADED_STATUSES = (GRADED, LATE)
PLOTS = {
    "scores": "scores.png",
    "cell_pass_rate": "cell_pass_rate.png",
    "statuses": "statuses.png",
    "time_per_submission": "time_per_submission.png",
}
STATUS_ORDER = STATUSES
UNTOUCHED = "untouched notebook: the stub is left in every answer cell"
# How many different failure messages of one graded cell the report lists.
TOP_MESSAGES = 5
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# "cell 14 hit ..." or "cell 14 (sigmoid) hit ..." (the grade_id the class command adds)
_CELL_REF = re.compile(r"\bcell (\d+)(?: \((?!later)[^)]*\))?( hit the kernel's| \(later cells)")


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


def scores_figure(data: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    s = data["scores"]
    edges = s["bin_edges"]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    ax.bar(edges[:-1], s["counts"], width=widths, align="edge", edgecolor="black")
    ax.set_xlabel(f"total score (max {s['max_score']:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_title(f"Scores of {len(s['values'])} graded submissions")
    return fig


def cell_pass_rate_figure(data: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(data["cell_pass_rate"])
    rates = [100 * data["cell_pass_rate"][n]["rate"] for n in names]
    titles = data.get("cell_titles", {})
    ax.barh([titles.get(n, n) for n in names][::-1], rates[::-1], color="tab:green")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded students with full points")
    ax.set_title("Pass rate per graded cell")
    return fig


def statuses_figure(data: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = list(data["statuses"])
    ax.bar(labels, [data["statuses"][k] for k in labels], color="tab:blue")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_title("Status of each student")
    ax.tick_params(axis="x", rotation=30)
    return fig


def time_figure(data: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ordered = sorted(data["time_per_submission"].items(), key=lambda kv: kv[1])
    ax.bar(range(len(ordered)), [t for _, t in ordered], color="tab:orange")
    ax.set_xlabel("graded submissions, sorted by time")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_ylabel("seconds (worker wall time)")
    ax.set_title("Grading time per submission")
    return fig


FIGURES = {
    "scores": scores_figure,
    "cell_pass_rate": cell_pass_rate_figure,
    "statuses": statuses_figure,
    "time_per_submission": time_figure,
}


def draw_plots(data: dict, report_dir: Path) -> dict:
    paths = {key: report_dir / name for key, name in PLOTS.items()}
    for key, figure in FIGURES.items():
        _save(figure(data), paths[key])
    return paths


@dataclasses.dataclass(frozen=True)
class CellLabels:
    """The functions behind the assignment's cells, for labels such as
    ``test_backprop (backprop)``: taken from the assignment's contract that the course
    names in ``c.TrustedVerdict.assignment`` (the class command names no assignment)."""

    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # grade_id -> function
    graded: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @classmethod
    def of_course(cls, course_dir: Path | str) -> CellLabels:
        """The labels of the course in ``course_dir`` (none when it names no assignment)."""
        from traitlets.config.loader import PyFileConfigLoader

        try:
            config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
            package = config.TrustedVerdict.get("assignment")
            contract = importlib.import_module(f"{package}.contract") if package else None
        except Exception:  # a report is still written, with plain grade_ids
            return cls()
        if contract is None:
            return cls()
        return cls(
            answers={c.grade_id: c.function for c in contract.ANSWER_CELLS},
            graded={c.grade_id: tuple(c.functions) for c in contract.GRADED_CELLS},
        )

    def title(self, grade_id: str) -> str:
        """A graded cell with the functions it judges; other cells keep their grade_id."""
        functions = self.graded.get(grade_id)
        return f"{grade_id} ({', '.join(functions)})" if functions else grade_id

    def name(self, grade_id: str | None) -> str:
        if grade_id in self.answers:
            return f"answer cell {grade_id} ({self.answers[grade_id]})"
        if grade_id in self.graded:
            return f"graded cell {self.title(grade_id)}"
        return f"cell {grade_id}" if grade_id else ""


def _read_notebook(path: Path) -> dict | None:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return gid if isinstance(gid, str) else None


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


class _Course:
    """Read-only view of the course's files for one assignment."""

    def __init__(self, course_dir: Path, assignment: str):
        self.dir = Path(course_dir)
        self.labels = CellLabels.of_course(course_dir)
        self.assignment = assignment
        release = self.dir / "release" / assignment
        self.notebooks = sorted(p.name for p in release.glob("*.ipynb")) if release.is_dir() else []
        self.answers: dict[str, dict[str, str]] = {}  # notebook -> answer grade_id -> source
        for name in self.notebooks:
            nb = _read_notebook(release / name) or {"cells": []}
            self.answers[name] = {
                _grade_id(c): _source(c).strip()
                for c in nb["cells"]
                if _grade_id(c) and (c.get("metadata", {}).get("nbgrader", {}).get("solution"))
            }

    def student_file(self, kind: str, student: str, name: str) -> Path:
        return self.dir / kind / student / self.assignment / name

    def untouched(self, student: str) -> list[str]:
        """Answer cells (grade_ids) whose source is still the release's stub."""
        stubs = []
        for name in self.notebooks:
            nb = _read_notebook(self.student_file("submitted", student, name))
            if nb is None:
                continue
            sources = {_grade_id(c): _source(c).strip() for c in nb["cells"] if _grade_id(c)}
            stubs += [gid for gid, src in self.answers[name].items() if sources.get(gid) == src]
        return stubs

    def failures(self, student: str) -> dict[str, str]:
        """grade_id -> the verdict's message, for each failing graded cell."""
        found = {}
        for name in self.notebooks:
            nb = _read_notebook(self.student_file("autograded", student, name))
            for cell in (nb or {"cells": []})["cells"]:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if not (isinstance(meta, dict) and meta.get("grade") and not meta.get("solution")):
                    continue
                for out in cell.get("outputs", []) or []:
                    if isinstance(out, dict) and out.get("output_type") == "error":
                        found[_grade_id(cell)] = str(out.get("evalue") or out.get("ename") or "")
                        break
        return found

    def name_cells(self, student: str, detail: str) -> str:
        """ "cell 14 hit ..." -> "cell 14 (answer cell sigmoid (sigmoid)) hit ..."."""
        if not detail or not self.notebooks:
            return detail
        nb = _read_notebook(self.student_file("autograded", student, self.notebooks[0]))
        if nb is None:
            return detail

        def named(match: re.Match) -> str:
            index = int(match.group(1))
            if index >= len(nb["cells"]):
                return match.group(0)
            label = self.labels.name(_grade_id(nb["cells"][index]))
            return f"cell {index} ({label}){match.group(2)}" if label else match.group(0)

        return _CELL_REF.sub(named, detail)

    def links(self, student: str, report_dir: Path) -> list[tuple[str, str]]:
        """(label, relative URL) of the student's feedback pages and log."""
        targets = [
            (
                f"feedback{'' if len(self.notebooks) == 1 else ' ' + n}",
                self.student_file("feedback", student, n[: -len(".ipynb")] + ".html"),
            )
            for n in self.notebooks
        ]
        targets.append(("log", report_dir / "logs" / f"{student}.log"))
        return [
            (label, urllib.parse.quote(Path(os.path.relpath(path, report_dir)).as_posix()))
            for label, path in targets
            if path.is_file()
        ]


def _message_key(message: str) -> str:
    """The first line of a message with its numbers blanked, so that messages
    differing only in the values they quote count as one mistake."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return _NUMBER.sub("…", first)


def student_rows(results, report_dir: Path, course: _Course | None, people: dict) -> list[dict]:
    """One dict per student, those needing attention first."""
    rows = []
    for r in results:
        person = people.get(r.student_id)
        name = getattr(person, "name", "") if person is not None else ""
        detail = course.name_cells(r.student_id, r.detail) if course else r.detail
        stubs = course.untouched(r.student_id) if course and r.score is not None else []
        all_stubbed = bool(stubs) and len(stubs) == sum(len(a) for a in course.answers.values())
        reasons = []
        if r.needs_instructor:
            reasons.append(f"{r.status}: {detail}" if detail else r.status)
        if not r.on_roster:
            reasons.append("not on the roster (check the student id)")
        if all_stubbed and not r.score:
            reasons.append(UNTOUCHED)
        notes = []
        if detail and not r.needs_instructor:
            notes.append(detail)
        if stubs and not all_stubbed:
            names = [course.labels.answers.get(g, g) for g in stubs]
            notes.append("stub left in: " + ", ".join(names))
        if r.status == LATE:
            notes.append(f"late by {r.seconds_late / 3600:.1f} h")
        rows.append(
            {
                "student_id": r.student_id,
                "name": name,
                "status": r.status,
                "attention": "; ".join(reasons),
                "notes": "; ".join(notes),
                "score": r.score,
                "max_score": r.max_score,
                "graded": r.score is not None,
                "cells": {k: v[0] for k, v in r.cells.items()} if r.score is not None else {},
                "seconds": r.seconds,
                "links": course.links(r.student_id, report_dir) if course else [],
                "failures": course.failures(r.student_id) if course and r.score is not None else {},
                "untouched": all_stubbed,
            }
        )
    rows.sort(key=lambda row: (not row["attention"], (row["name"] or row["student_id"]).lower()))
    return rows


def failure_summary(
    rows: list[dict], cell_names: list[str], labels: CellLabels | None = None
) -> list[dict]:
    """Per graded cell: how many graded students failed it and the most common
    messages (untouched notebooks are left out: they fail everything alike)."""
    labels = labels or CellLabels()
    summary = []
    for gid in cell_names:
        messages = [
            row["failures"][gid] for row in rows if gid in row["failures"] and not row["untouched"]
        ]
        counted = collections.Counter(_message_key(m) for m in messages)
        examples = {}
        for m in messages:
            examples.setdefault(_message_key(m), m.strip().splitlines()[0] if m.strip() else "")
        summary.append(
            {
                "grade_id": gid,
                "title": labels.title(gid),
                "failed": len(messages),
                "messages": [
                    {"count": n, "message": examples[key]}
                    for key, n in counted.most_common(TOP_MESSAGES)
                ],
            }
        )
    return summary


def _breakable(name: str) -> Markup:
    """A grade_id that may wrap after its underscores (narrow score columns)."""
    return escape(name).replace("_", Markup("_<wbr>"))


def _fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}".rstrip("0").rstrip(".")


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Grading report: {{ assignment }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; max-width: 100%; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td, th { border: 1px solid #ccc; padding: 2px 5px; vertical-align: top;
         overflow-wrap: anywhere; word-break: break-word; }
th { background: #f3f3f3; font-size: 90%; }
tr.attention { background: #fdd; }
td.reason { color: #900; }
td.num { text-align: right; }
.warning { border: 2px solid #c60; background: #fff4e0; padding: .5em; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
.plots img { max-width: 100%; height: auto; border: 1px solid #eee; }
col.student { width: 13%; } col.status { width: 8%; } col.reason { width: 27%; }
col.score { width: 5%; } col.links { width: 7%; } col.notes { width: 12%; }
</style></head><body>
<h1>Grading report: {{ assignment }}</h1>
<p id="summary">{{ data.n_students }} students:
{% for status, n in data.statuses.items() %}{{ n }} {{ status }}{{ ", " if not loop.last }}{% endfor %}.
{{ attention_count }} need attention.</p>
{% for warning in warnings %}<p class="warning">{{ warning }}</p>{% endfor %}
<h2>Students</h2>
<table id="students">
<colgroup><col class="student"><col class="status"><col class="reason"><col class="score">
{% for _ in cell_names %}<col>{% endfor %}<col class="notes"><col class="links"></colgroup>
<tr><th>student</th><th>status</th><th>needs attention because</th><th>score</th>
{% for gid in cell_names %}<th title="{{ titles[gid] }}">{{ breakable(gid) }}</th>{% endfor %}
<th>notes</th><th>files</th></tr>
{% for row in rows %}
<tr class="{{ 'attention' if row.attention else '' }}" data-student="{{ row.student_id }}">
<td>{% if row.name %}{{ row.name }}<br><small>{{ row.student_id }}</small>{% else %}{{ row.student_id }}{% endif %}</td>
<td>{{ row.status }}</td>
<td class="reason">{{ row.attention }}</td>
<td class="num">{{ fmt(row.score) }}{% if row.score is not none %} / {{ fmt(row.max_score) }}{% endif %}</td>
{% for gid in cell_names %}<td class="num" title="{{ row.failures.get(gid, '') }}">{{ fmt(row.cells.get(gid)) }}</td>{% endfor %}
<td>{{ row.notes }}</td>
<td>{% for label, url in row.links %}<a href="{{ url }}">{{ label }}</a>{{ "<br>"|safe if not loop.last }}{% endfor %}</td>
</tr>
{% endfor %}
</table>
<h2>What the class struggles with</h2>
{% if untouched_count %}<p>{{ untouched_count }} untouched notebook(s) not counted here.</p>{% endif %}
{% for cell in failures %}
<h3>{{ cell.title }}: {{ cell.failed }} of {{ graded_count }} graded students failed</h3>
{% if cell.messages %}<table class="failures"><colgroup><col style="width: 8%"><col></colgroup>
<tr><th>students</th><th>message (numbers vary between students)</th></tr>
{% for m in cell.messages %}<tr><td class="num">{{ m.count }}</td><td>{{ m.message }}</td></tr>{% endfor %}
</table>{% endif %}
{% endfor %}
<h2>Plots</h2>
<div class="plots">{% for key, name in plots.items() %}<img src="{{ name }}" alt="{{ key }}">{% endfor %}</div>
</body></html>
"""
)


def render_html(
    results, data: dict, assignment: str, rows: list[dict], failures: list[dict], warnings
) -> str:
    cell_names = [f["grade_id"] for f in failures]
    return _TEMPLATE.render(
        assignment=assignment,
        data=data,
        rows=rows,
        cell_names=cell_names,
        titles={f["grade_id"]: f["title"] for f in failures},
        failures=failures,
        graded_count=sum(1 for row in rows if row["graded"] and not row["untouched"]),
        untouched_count=sum(1 for row in rows if row["untouched"]),
        attention_count=sum(1 for row in rows if row["attention"]),
        warnings=list(warnings),
        plots=PLOTS,
        fmt=_fmt,
        breakable=_breakable,
    )


def build_report(
    results,
    report_dir,
    assignment: str = "",
    *,
    course_dir: Path | str | None = None,
    people: dict | None = None,
    warnings: list[str] | tuple[str, ...] = (),
) -> Path:
    """Write index.html, the PNG plots and report.json; return index.html's path.

    ``people``: student id -> an object with a ``name`` (e.g.
    :class:`autograder.classgrade.export.Person`); ``warnings`` are shown on top."""
    report_dir = Path(report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    if course_dir is not None and not assignment:  # the course's one released assignment
        released = sorted(p.name for p in (Path(course_dir) / "release").glob("*") if p.is_dir())
        assignment = released[0] if len(released) == 1 else ""
    course = _Course(Path(course_dir), assignment) if course_dir is not None else None
    labels = course.labels if course is not None else CellLabels()
    data = plot_data(results)
    data["cell_titles"] = {gid: labels.title(gid) for gid in data["cell_pass_rate"]}
    rows = student_rows(results, report_dir, course, people or {})
    cell_names = list(data["cell_pass_rate"])
    failures = failure_summary(rows, cell_names, labels)
    draw_plots(data, report_dir)
    saved = dict(data, students=rows, failures=failures, warnings=list(warnings))
    (report_dir / "report.json").write_text(json.dumps(saved, indent=1, ensure_ascii=False))
    index = report_dir / "index.html"
    index.write_text(
        render_html(results, data, assignment, rows, failures, warnings), encoding="utf-8"
    )
    return index


def summary_text(
    results: list[StudentResult],
    grades_csv: Path,
    report_dir: Path | None,
    with_roster: bool,
    warnings: list[str] | tuple[str, ...] = (),
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
    lines.extend(warnings)
    lines.append(f"Grades: {grades_csv}")
    for lms in ("moodle", "canvas"):
        upload = Path(grades_csv).with_name(f"{Path(grades_csv).stem}-{lms}.csv")
        if upload.is_file():
            lines.append(f"  {lms.capitalize()} grade import: {upload}")
    if report_dir is not None:
        lines.append(f"Report: {report_dir / 'index.html'}")
    return "\n".join(lines)
