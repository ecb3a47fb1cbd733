"""SanitizeOutputs (autograder.preprocessors.sanitize_outputs): active content of
outputs, markdown and raw cells is neutralized; passive content is kept as it was."""

import re

import nbformat
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
    new_raw_cell,
)

from autograder.preprocessors.sanitize_outputs import SanitizeOutputs, clean_html, clean_markdown

ACTIVE = re.compile(r"<script|<iframe|<object|<embed|<style|javascript:|\bon\w+\s*=", re.I)


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<object data="x.swf"></object><embed src="x">',
        '<div style="position:fixed;top:0">phish</div><style>*{}</style>',
        "<svg><script>alert(1)</script></svg>",
        '<form action="https://evil.example"><input name=p></form>',
        "<!-- <script>alert(1)</script> -->",
    ],
)
def test_active_html_is_neutralized(html):
    cleaned = clean_html(html)
    assert not ACTIVE.search(cleaned), cleaned
    assert "<form" not in cleaned and "<input" not in cleaned and 'style="' not in cleaned


def test_passive_html_is_kept():
    table = (
        '<table class="dataframe"><thead><tr><th>a</th></tr></thead>'
        '<tbody><tr><td colspan="2">1</td></tr></tbody></table>'
        '<a href="https://example.org" title="t">x</a><b>bold</b>'
    )
    assert clean_html(table) == table


@pytest.mark.parametrize(
    "markdown",
    [
        "[x](javascript:alert(1))",
        "[x]( <JavaScript:alert(1)>)",
        "![i](javascript:alert(1))",
        "[r]\n\n[r]: javascript:alert(1)",
        "text <script>alert(1)</script>",
        '<a href="javascript:alert(1)" onclick="alert(2)">a</a>',
        "<img src=x onerror=alert(1)>",
    ],
)
def test_active_markdown_is_neutralized(markdown):
    assert not ACTIVE.search(clean_markdown(markdown)), clean_markdown(markdown)


def test_plain_markdown_is_untouched():
    text = "# Заголовок\n\n> цитата\n\n$\\sigma(x) = 1 / (1 + e^{-x})$, `a > b`, [ссылка](https://x.org)"
    assert clean_markdown(text) == text


def _notebook():
    outputs = [
        new_output(
            "display_data",
            data={
                "application/javascript": "alert(1)",
                "text/html": "<b>ok</b><script>alert(2)</script>",
                "text/plain": "ok",
            },
            metadata={"text/html": {"x" * 1000: 1}, "image/png": {"width": 5}},
        ),
        new_output("display_data", data={"image/svg+xml": "<svg onload=alert(1)/>"}),
        new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"}},
        ),
        new_output("execute_result", data={"text/markdown": "[x](javascript:alert(1))"}),
        new_output("stream", name="stdout", text="<script>stays text in a stream</script>"),
        new_output(
            "display_data",
            data={"image/png": "iVBORw0KGgo="},
            metadata={"image/png": {"width": 3, "height": "<x>", "k" * 10: 1}},
        ),
    ]
    cell = new_code_cell("x = 1", outputs=outputs)
    raw = new_raw_cell(
        "<script>alert(3)</script>", metadata={"raw_mimetype": "text/html", "format": "text/html"}
    )
    md = new_markdown_cell('<a href="javascript:alert(4)">a</a>')
    nb = new_notebook(cells=[cell, raw, md])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_preprocessor_cleans_a_whole_notebook():
    nb, _ = SanitizeOutputs().preprocess(_notebook(), {})
    nbformat.validate(nb)
    html_out, svg, widget, md_out, stream, png = nb.cells[0].outputs
    assert html_out.data == {
        "text/html": "<b>ok</b>&lt;script&gt;alert(2)&lt;/script&gt;",
        "text/plain": "ok",
    }
    assert html_out.metadata == {}  # the huge key is gone, the PNG size had no PNG
    assert list(svg.data) == ["text/plain"] and "image/svg+xml" in svg.data["text/plain"]
    assert list(widget.data) == ["text/plain"]
    assert not ACTIVE.search(md_out.data["text/markdown"])
    assert stream.text == "<script>stays text in a stream</script>"  # nbconvert escapes streams
    assert png.metadata == {"image/png": {"width": 3}}
    assert "raw_mimetype" not in nb.cells[1].metadata and "format" not in nb.cells[1].metadata
    assert not ACTIVE.search(nb.cells[2].source)
    assert "widgets" not in nb.metadata
