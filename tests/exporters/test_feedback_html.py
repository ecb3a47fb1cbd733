"""Tests of the feedback page's exporter: the same page as nbconvert's HTMLExporter."""

import base64
import copy
import io

import jinja2
import nbformat
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output
from nbgrader.converters import GenerateFeedback
from traitlets.config import Config

from autograder.exporters.feedback_html import (
    MISSING_ALT,
    FeedbackHTMLExporter,
    add_missing_alt,
)
from autograder.preprocessors.feedback_readable import ReadableFeedback
from fixtures.samples import RELEASE_NOTEBOOK

# What GenerateFeedback configures for HTMLExporter (nbgrader's "feedback" template).
FEEDBACK_CONFIG = Config({"HTMLExporter": GenerateFeedback().config.HTMLExporter})


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _notebook():
    """The release with outputs of every kind a graded notebook shows."""
    nb = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    code = new_code_cell("plt.plot(x)\nprint('шаг 1')")
    code.outputs = [
        new_output("stream", name="stdout", text="шаг 1\n"),
        new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"}),
        new_output("error", ename="AssertionError", evalue="точность 0.5", traceback=["x"]),
    ]
    nb.cells += [code, new_markdown_cell("Граница: $x = -b / w$ и ![картинка](data:,x)")]
    for cell in nb.cells:  # what GetGrades gives the template
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("task"):
            meta.update(score=meta.get("points", 0) / 2, comment="Посмотрите на шаг.")
    return nb


RESOURCES = {
    "nbgrader": {"notebook": "one_neuron", "score": 5.0, "max_score": 10.0, "late_penalty": 0.0}
}


def _export(exporter_class, nb):
    exporter = exporter_class(config=FEEDBACK_CONFIG)
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor(enabled=True))
    exporter.register_preprocessor(ReadableFeedback())
    html, _ = exporter.from_notebook_node(nb, resources=copy.deepcopy(RESOURCES))
    return html


def test_the_page_is_the_stock_exporters():
    """Same document tree as HTMLExporter's page (attribute order aside), defaults included."""
    nb = _notebook()
    stock, fast = _export(HTMLExporter, nb), _export(FeedbackHTMLExporter, nb)
    assert stock != fast  # the stock page went through BeautifulSoup, this one did not
    stock_tree = BeautifulSoup(stock, features="html.parser")
    fast_tree = BeautifulSoup(fast, features="html.parser")
    assert fast_tree == stock_tree
    images = fast_tree.find_all("img")
    assert sum(img.get("alt") == MISSING_ALT for img in images) == 1  # the plot
    assert sum("tex" in (img.get("class") or []) for img in images) >= 50  # formulas keep theirs


def test_lab_cells_take_the_stock_pass():
    """A page with JupyterLab cells (never the feedback template) is made focusable as before."""
    nb = _notebook()
    config = Config({"HTMLExporter": {"template_name": "lab"}})
    stock, _ = HTMLExporter(config=config).from_notebook_node(nb)
    fast, _ = FeedbackHTMLExporter(config=config).from_notebook_node(nb)
    assert 'tabindex="0"' in fast
    assert BeautifulSoup(fast, features="html.parser") == BeautifulSoup(
        stock, features="html.parser"
    )


def test_templates_are_compiled_once_per_process(monkeypatch):
    nb = _notebook()
    _export(FeedbackHTMLExporter, nb)  # fills the cache
    compiled = []
    original = jinja2.Environment.compile

    def counting(self, *args, **kwargs):
        compiled.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    _export(FeedbackHTMLExporter, nb)
    assert compiled == []
    _export(HTMLExporter, nb)  # the stock exporter compiles its templates every time
    assert compiled


def test_alt_is_added_only_where_missing():
    html = (
        '<p><img src="a.png"><IMG SRC="b.png" ALT="b"><img alt src=c.png/>'
        "<img src='d.png' title=\"x alt=y\"></p>"
    )
    fixed, added = add_missing_alt(html)
    assert added == 2
    tree = BeautifulSoup(fixed, features="html.parser")
    assert [img.get("alt") for img in tree.find_all("img")] == [MISSING_ALT, "b", "", MISSING_ALT]


def test_an_img_the_fast_path_cannot_read_is_left_to_beautifulsoup():
    assert add_missing_alt('<p><img src="a.png</p>') is None  # unterminated value
    assert add_missing_alt("<img/src=x>") is None


_names = st.sampled_from(["src", "alt", "ALT", "title", "class", "data-alt", "width", "alt-x"])
_values = st.one_of(
    st.none(),
    st.text(alphabet="ab =<>/'\"alt", max_size=8).map(lambda v: '"' + v.replace('"', "") + '"'),
    st.text(alphabet='ab =<>/"alt', max_size=8).map(lambda v: "'" + v.replace("'", "") + "'"),
    st.text(alphabet="abc-alt", min_size=1, max_size=6),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.tuples(_names, _values), max_size=4), min_size=1, max_size=4))
def test_alt_decisions_match_beautifulsoup(tags):
    html = "".join(
        "<img" + "".join(f" {n}" + ("" if v is None else f"={v}") for n, v in attrs) + ">"
        for attrs in tags
    )
    result = add_missing_alt(html)
    if result is None:
        return
    fixed, added = result
    expected = BeautifulSoup(html, features="html.parser")
    missing = expected.select("img:not([alt])")
    assert added == len(missing)
    for elem in missing:
        elem.attrs["alt"] = MISSING_ALT
    assert BeautifulSoup(fixed, features="html.parser") == expected


def test_each_distinct_cell_is_highlighted_once(monkeypatch):
    """A second student's page highlights only the code that differs from the first's."""
    from nbconvert.filters.highlight import Highlight2HTML

    nb = _notebook()
    first = _export(FeedbackHTMLExporter, nb)
    highlighted = []
    original = Highlight2HTML.__call__

    def counting(self, source, language=None, metadata=None):
        highlighted.append(source)
        return original(self, source, language, metadata)

    monkeypatch.setattr(Highlight2HTML, "__call__", counting)
    assert _export(FeedbackHTMLExporter, nb) == first
    assert highlighted == []
    other = copy.deepcopy(nb)
    for cell in other.cells:  # what differs from one student to the next without mattering
        cell.metadata["execution"] = {"iopub.execute_input": "2026-12-02T01:30:00Z"}
    other.cells[-2].source = "print('другой ответ')"
    page = _export(FeedbackHTMLExporter, other)
    assert highlighted == ["print('другой ответ')"]
    assert "другой ответ" in page and page != first
    other.cells[-2].metadata["magics_language"] = "bash"  # nbconvert then lexes it as bash
    assert "hl-ipython3" in _export(FeedbackHTMLExporter, other)
    assert highlighted == ["print('другой ответ')"] * 2
