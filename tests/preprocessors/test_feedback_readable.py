"""Tests of the readable-feedback preprocessor (wrapping CSS, formulas as images)."""

import base64
import re

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.v4 import new_markdown_cell, new_notebook

from autograder.preprocessors.feedback_readable import (
    WRAP_CSS,
    ReadableFeedback,
    render_math,
    tex_to_svg,
)
from fixtures.samples import RELEASE_NOTEBOOK

IMG = re.compile(r'<img class="tex" alt="([^"]*)" src="data:image/svg\+xml;base64,([^"]+)">')


def test_formulas_become_svg_images_with_the_tex_as_alt():
    out = render_math(r"Сигмоида $\sigma(x) = \frac{1}{1 + e^{-x}}$ и $$L = -\ln r$$.")
    found = IMG.findall(out)
    assert [alt for alt, _ in found] == [r"\sigma(x) = \frac{1}{1 + e^{-x}}", r"L = -\ln r"]
    for _, data in found:
        assert base64.b64decode(data).lstrip().startswith(b"<?xml")
    assert '<div class="tex-display">' in out and "$" not in out


def test_code_prices_and_unparsable_tex_are_left_alone():
    text = r"`$x$` costs \$5, and $\unknowncommand{x}$ stays"
    assert render_math(text) == text
    assert tex_to_svg(r"\unknowncommand{x}") is None


def test_alt_text_is_escaped():
    out = render_math("$a<b$")
    assert 'alt="a&lt;b"' in out and "a<b" not in out


def test_every_formula_of_the_release_is_drawn():
    """No formula of the student's notebook is left as raw TeX in the feedback."""
    nb = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    rendered = render_math(markdown)
    assert len(IMG.findall(rendered)) >= 50
    assert "$" not in re.sub(r"`[^`\n]*`", "", rendered)


def test_preprocessor_adds_the_css_after_nbconverts_and_renders_markdown():
    nb = new_notebook(cells=[new_markdown_cell("$a^2$")])
    exporter = HTMLExporter(template_name="classic")
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor(enabled=True))
    exporter.register_preprocessor(ReadableFeedback())  # enabled by default, as nbgrader needs
    body, _ = exporter.from_notebook_node(nb)
    assert "white-space: pre-wrap !important" in body and WRAP_CSS.strip()[:40] in body
    # nbconvert's markdown renderer re-serialises the tag (attribute order)
    assert re.search(r'<img alt="a\^2" class="tex" src="data:image/svg\+xml;base64,', body)
