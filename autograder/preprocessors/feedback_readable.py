"""Feedback a student can read offline: wrapped messages and formulas as images.

``ReadableFeedback`` runs last in ``c.GenerateFeedback.preprocessors`` (after
``CSSHTMLHeaderPreprocessor``, which fills ``resources["inlining"]["css"]``):

- it adds CSS so that long check messages, tracebacks and code wrap inside their
  box instead of being cut off at its edge;
- it renders the TeX formulas of markdown cells (``$...$``, ``$$...$$``) to SVG
  with matplotlib's mathtext and puts them into the page as ``data:`` images
  (the TeX source stays as the image's alt text). nbconvert's HTML exporter only
  links MathJax (``HTMLExporter.mathjax_url``, a CDN by default) and ships no copy
  of it; the MathJax packages on PyPI (e.g. ``jupyter-server-mathjax``) hold
  MathJax 2 as a tree of files loaded at run time, which a single feedback HTML
  sent to a student cannot carry. Images made here need neither network nor
  JavaScript. A formula mathtext cannot parse stays as TeX (MathJax renders it
  when the page is online).

Markdown comes from the released notebook's locked cells and from cells a
student added; a formula is drawn from its text alone (no HTML passes through:
the alt text is escaped), so a student's markdown gains nothing here.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

WRAP_CSS = """
/* Long check messages and code wrap instead of running past the box (feedback). */
div.output_area pre, div.output_subarea pre, div.output_text pre, div.output_error pre,
div.input_area pre, div.highlight pre, .output pre {
  white-space: pre-wrap !important;
  overflow-wrap: anywhere;
  word-break: break-word;
}
div.output_subarea { max-width: 100%; overflow-x: visible; }
div.output_png img, div.text_cell_render img { max-width: 100%; height: auto; }
img.tex { vertical-align: middle; }
div.tex-display { text-align: center; margin: 0.6em 0; overflow-x: auto; }
"""

# Code spans and fences are left alone; then display math, then inline math.
_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)
_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\\\s])\$", re.S)
# TeX that mathtext spells differently or does not know (size hints only).
_TEX_FIXES = (
    (re.compile(r"\\(le|ge)(?![a-zA-Z])"), r"\\\1q"),
    (re.compile(r"\\[bB]ig{1,2}[lr]?(?![a-zA-Z])"), ""),
)
FONT_SIZE = 11  # points: close to the 14 px body text of nbgrader's feedback page


# The released notebook's formulas are the same for every student: one process
# grading a class draws each once (the SVG depends on the formula's text alone).
@functools.lru_cache(maxsize=1024)
def tex_to_svg(tex: str, size: float = FONT_SIZE) -> bytes | None:
    """SVG of a TeX formula (matplotlib mathtext), or None if mathtext cannot parse it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    text = " ".join(tex.split())
    for pattern, replacement in _TEX_FIXES:
        text = pattern.sub(replacement, text)
    buffer = io.BytesIO()
    try:
        mathtext.math_to_image(f"${text}$", buffer, prop=FontProperties(size=size), format="svg")
    except ValueError:
        return None
    return buffer.getvalue()


def _image(tex: str, display: bool) -> str | None:
    # displayed fractions at full size, as TeX sets them in display style
    drawn = re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", tex) if display else tex
    svg = tex_to_svg(drawn, FONT_SIZE * (1.1 if display else 1.0))
    if svg is None:
        return None
    src = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    img = f'<img class="tex" alt="{html.escape(tex.strip(), quote=True)}" src="{src}">'
    return f'<div class="tex-display">{img}</div>' if display else img


def render_math(markdown: str) -> str:
    """Markdown with every formula mathtext can draw replaced by an image."""

    def formula(match: re.Match) -> str:
        display = match.group(1) is not None
        return _image(match.group(1) if display else match.group(2), display) or match.group(0)

    parts = _CODE.split(markdown)
    return "".join(part if i % 2 else _MATH.sub(formula, part) for i, part in enumerate(parts))


class ReadableFeedback(Preprocessor):
    """Wrapping CSS and offline formulas for the feedback HTML."""

    # nbconvert's preprocessors are off unless enabled; nbgrader registers the
    # configured ones without enabling them.
    enabled = Bool(True, help="Whether to run this preprocessor").tag(config=True)

    def preprocess(self, nb, resources):
        inlining = resources.setdefault("inlining", {})
        inlining["css"] = [*inlining.get("css", []), WRAP_CSS]
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = render_math(cell.source)
        return nb, resources
