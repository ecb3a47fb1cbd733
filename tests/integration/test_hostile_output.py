"""Hostile outputs under real `nbgrader autograde` + `generate_feedback` (issue 13,
item 7): floods the old cap did not count (JSON numbers, huge metadata keys, error
messages), malformed widget/comm and other messages forged through the kernel's own
session, and active content (<script>, event handlers, javascript: URLs, iframes,
JavaScript and SVG outputs, raw HTML cells, HTML in an added markdown cell).

The attacker's answers are correct: it keeps 10/10 (a malformed message never costs
a grade), its autograded notebook stays small, the grader's memory does not grow
with what it printed, and no active content reaches the autograded notebook (the
formgrader's view) or the feedback HTML. The honest student beside it keeps 10/10.

Before: the floods took the grader to 2.1 GB and produced a 270 MB notebook; the
malformed widget message made nbclient raise (submission not graded); <script>
reached the feedback verbatim."""

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from integration.graded_course import (
    MAX_SCORE,
    REFERENCE_ANSWERS,
    scores,
    shared_course,
    submission,
)
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell
from nbgrader_helpers import ASSIGNMENT, nbgrader_api

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

NB = f"{ASSIGNMENT}.ipynb"
MiB = 1024 * 1024

FLOOD_JSON_NUMBERS = """
from IPython.display import display
for _ in range(10):
    display({"application/json": [0.5] * 300_000}, raw=True)
"""
FLOOD_METADATA_KEYS = """
from IPython.display import display
for i in range(20):
    display({"text/plain": "k"}, metadata={str(i) + "k" * 1_000_000: 1}, raw=True)
"""
FLOOD_ERRORS = """
k = get_ipython().kernel
for _ in range(20):
    k.session.send(k.iopub_socket, "error", {"ename": "E" * 1000, "evalue": "e" * 1_000_000,
                   "traceback": ["t" * 100_000] * 10}, parent=k.get_parent())
raise ValueError("v" * 3_000_000)
"""
MALFORMED = """
k = get_ipython().kernel
for kind, content in [
    ("comm_open", {"comm_id": "c1", "target_name": "jupyter.widget", "data": 5}),
    ("comm_msg", {"comm_id": "c1", "data": {"state": 1, "buffer_paths": 3}}),
    ("comm_msg", {"data": {"state": {"a": 1}}}),
    ("display_data", {"data": {"text/plain": "x"}, "metadata": {}, "transient": [1]}),
    ("execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": "x" * 10}),
    ("stream", {"name": 1}),
    ("status", {}),
    ("clear_output", {"wait": "no"}),
    ("update_display_data", {"data": {}, "metadata": {}, "transient": {"display_id": 5}}),
]:
    k.session.send(k.iopub_socket, kind, content, parent=k.get_parent())
print("после искажённых сообщений")
"""
ACTIVE_OUTPUTS = """
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<b>ok</b><script>window.PWNED_SCRIPT=1</script>'
             '<img src=x onerror="window.PWNED_ONERROR=1">'
             '<a href="javascript:PWNED_HREF()">x</a><iframe src="https://example.org/PWNED_IFRAME"></iframe>'))
display(Javascript("window.PWNED_JS = 1"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>PWNED_SVG()</script></svg>'))
display(Markdown("[x](javascript:PWNED_MDOUT())"))
"""
ACTIVE_MARKDOWN = (
    "Мой комментарий <script>window.PWNED_MD = 1</script> "
    '<a href="javascript:PWNED_MDA()" onclick="PWNED_ONCLICK()">ссылка</a> '
    "[ещё](javascript:PWNED_MDLINK())"
)


class LiveContent(HTMLParser):
    """Markup that a browser would run, as the page's parser sees it (text never counts:
    the code cells' own source shows the payloads as escaped text)."""

    def __init__(self):
        super().__init__()
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        if tag in ("iframe", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") and "pwned" in value:
                self.found.append(f"{tag} {name}={value[:40]}")
            if name in ("href", "src", "action", "formaction") and value.startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.found.append(f"{tag} {name}={value[:40]}")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "PWNED" in data:
            self.found.append(f"<script>{data.strip()[:40]}")


def live_content(html):
    parser = LiveContent()
    parser.feed(html)
    return parser.found


def attacker_notebook():
    nb = submission(REFERENCE_ANSWERS)
    nb.cells += [
        new_code_cell(FLOOD_JSON_NUMBERS),
        new_code_cell(FLOOD_METADATA_KEYS),
        new_code_cell(FLOOD_ERRORS),
        new_code_cell(MALFORMED),
        new_code_cell(ACTIVE_OUTPUTS),
        new_markdown_cell(ACTIVE_MARKDOWN),
        new_raw_cell(
            "<script>window.PWNED_RAW = 1</script>", metadata={"raw_mimetype": "text/html"}
        ),
    ]
    return nb


GRADE_ONE = """
import json, resource, sys
sys.path[:0] = {paths!r}
from nbgrader_helpers import ASSIGNMENT, nbgrader_api
result = nbgrader_api({course!r}).autograde(ASSIGNMENT, {student!r}, force=True, create=True)
print(json.dumps({{"success": result["success"], "log": result.get("log", "")[-3000:],
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def grade_in_subprocess(course, student, nb):
    """Autograde one student in a fresh process; returns its peak RSS in bytes."""
    folder = Path(course) / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / NB)
    tests_dir = str(Path(__file__).resolve().parents[1])
    code = GRADE_ONE.format(paths=[tests_dir], course=str(course), student=student)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=course
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["success"], info["log"]
    return info["maxrss_kib"] * 1024


def score(course, student):
    return sum(scores(course, student).values())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = shared_course(tmp_path_factory)
    honest_rss = grade_in_subprocess(course, "h7_out_honest", submission(REFERENCE_ANSWERS))
    attacker_rss = grade_in_subprocess(course, "h7_out_attacker", attacker_notebook())
    api = nbgrader_api(course)
    for student in ("h7_out_honest", "h7_out_attacker"):
        result = api.generate_feedback(ASSIGNMENT, student)
        assert result["success"], result.get("log", "")
    return course, honest_rss, attacker_rss


def test_both_keep_full_marks(graded):
    course, _, _ = graded
    assert score(course, "h7_out_honest") == MAX_SCORE
    assert score(course, "h7_out_attacker") == MAX_SCORE


def test_floods_are_capped_and_the_grader_memory_stays_bounded(graded):
    course, honest_rss, attacker_rss = graded
    path = course / "autograded" / "h7_out_attacker" / ASSIGNMENT / NB
    # three flooding cells of 15-40 MB each (all kept before), at most ~1 MB kept per cell
    assert path.stat().st_size < 8 * MiB, path.stat().st_size
    print(f"peak RSS honest {honest_rss / MiB:.0f} MiB, attacker {attacker_rss / MiB:.0f} MiB")
    assert attacker_rss - honest_rss < 300 * MiB
    nb = nbformat.read(path, as_version=4)
    texts = {
        c.source: json.dumps(c.get("outputs", []), ensure_ascii=False)
        for c in nb.cells
        if c.cell_type == "code"
    }
    for flood in (FLOOD_JSON_NUMBERS, FLOOD_METADATA_KEYS, FLOOD_ERRORS):
        assert "вывод обрезан" in texts[flood]
        assert len(texts[flood]) < 1.2 * MiB, len(texts[flood])  # each sent 15-40 MB
    assert "после искажённых сообщений" in texts[MALFORMED]


def test_no_active_content_in_the_formgrader_view_or_the_feedback(graded):
    course, _, _ = graded
    autograded = (course / "autograded" / "h7_out_attacker" / ASSIGNMENT / NB).read_text()
    feedback = (
        course / "feedback" / "h7_out_attacker" / ASSIGNMENT / "one_neuron.html"
    ).read_text()
    nb = nbformat.reads(autograded, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert not set(output.get("data", {})) & {
                "application/javascript",
                "image/svg+xml",
            }, output
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert live_content(cell.source) == [], cell.source
            assert "](javascript:" not in cell.source.lower(), cell.source
        for output in cell.get("outputs", []):
            for mime in ("text/html", "text/markdown"):
                assert live_content(str(output.get("data", {}).get(mime, ""))) == [], output
    assert live_content(feedback) == []
    assert "<script>window.PWNED_RAW" not in feedback  # the raw HTML cell is shown as text
    # what is left of the attempts is shown as text, so the instructor sees them
    assert "&lt;script&gt;window.PWNED_SCRIPT" in feedback
