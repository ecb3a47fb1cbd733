"""``SanitizeOutputs``: no active content of a submission reaches the feedback HTML or
the autograded notebook the formgrader shows.

nbconvert's HTML export writes ``text/html`` (and ``image/svg+xml``) outputs, raw HTML
in markdown cells, raw cells of an HTML format and the notebook's widget state into the
page verbatim, and runs ``application/javascript`` outputs; the instructor opens that
page in the formgrader. This step, placed after the trusted verdict in the autograde
pipeline and before the HTML export in the feedback pipeline:

* keeps only passive output types (plain text, LaTeX, PNG/JPEG/GIF, JSON); drops
  JavaScript, SVG, widget views and any other type, with a note when nothing is left;
* cleans ``text/html`` and ``text/markdown`` outputs and markdown cells that contain
  HTML with an allow-list (bleach): ``<script>``, ``<iframe>``, ``<object>``, ``<style>``,
  forms, event-handler and style attributes are escaped (shown as text), links and
  images keep only http(s)/mailto URLs; ``javascript:``-style targets of markdown links
  are replaced by ``#``;
* keeps only the image size of an output's metadata, drops raw cells' output format
  (nbconvert then leaves them out of the HTML) and the notebook's widget state.
"""

from __future__ import annotations

import re
from typing import Any

import bleach
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

PASSIVE_TYPES = (
    "text/plain",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/gif",
    "application/json",  # nbconvert's HTML shows nothing of it
)
REMOVED_NOTE = "[вывод удалён при проверке: активное содержимое ({types}) не показывается]"

ALLOWED_TAGS = frozenset(
    "a abbr b blockquote br caption code dd del details div dl dt em h1 h2 h3 h4 h5 h6 hr "
    "i img kbd li ol p pre s small span strong sub summary sup table tbody td tfoot th "
    "thead tr u ul".split()
)
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "img": ["src", "alt", "title", "width", "height"],
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align"],
    "*": ["class"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# A tag, comment or processing instruction: the markdown holds raw HTML. (Also
# matches `a<b` in a formula: cleaned too, shown as a&lt;b; nbconvert keeps raw HTML.)
_HTML = re.compile(r"<[/!?]?[A-Za-z]|<[!?]")  # what a browser parses as markup
# A markdown link or image target (inline or reference) with a scheme that runs code.
_BAD_SCHEME = r"\s*(?:javascript|vbscript|data|file)\s*:"
_MD_LINK = re.compile(r"(\]\s*\(\s*<?)" + _BAD_SCHEME, re.IGNORECASE)
_MD_REF = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s*<?)" + _BAD_SCHEME, re.IGNORECASE | re.MULTILINE)


def clean_html(html: str) -> str:
    """The HTML with every tag, attribute and URL outside the allow-list neutralized."""
    return bleach.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=False,
        strip_comments=True,
    )


def clean_markdown(text: str) -> str:
    """Markdown with raw HTML cleaned and code-running link targets replaced by '#'."""
    text = _MD_REF.sub(r"\1#", _MD_LINK.sub(r"\1#", text))
    if _HTML.search(text):
        text = clean_html(text)
    return text


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return str(value)


def clean_output(output: NotebookNode) -> NotebookNode:
    """One output with only passive content (see the module docstring)."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output
    data = output.get("data")
    data = data if isinstance(data, dict) else {}
    kept, removed = {}, []
    for mime, value in data.items():
        if mime in PASSIVE_TYPES:
            kept[mime] = value
        elif mime == "text/html":
            kept[mime] = clean_html(_as_text(value))
        elif mime == "text/markdown":
            kept[mime] = clean_markdown(_as_text(value))
        else:
            removed.append(str(mime)[:60])
    if not kept:
        kept["text/plain"] = REMOVED_NOTE.format(types=", ".join(removed) or "нет данных")
    output["data"] = kept
    meta = output.get("metadata")
    sizes: dict[str, dict] = {}
    if isinstance(meta, dict):
        for mime in ("image/png", "image/jpeg", "image/gif"):
            size = meta.get(mime)
            if mime in kept and isinstance(size, dict):
                sizes[mime] = {
                    k: v
                    for k, v in size.items()
                    if k in ("width", "height") and type(v) in (int, float)
                }
    output["metadata"] = sizes
    return output


class SanitizeOutputs(NbGraderPreprocessor):
    """Neutralize active content of outputs, markdown and raw cells (module docstring)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        meta = nb.get("metadata")
        if isinstance(meta, dict):
            meta.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type == "markdown":
            cell.source = clean_markdown(_as_text(cell.source))
        elif cell.cell_type == "raw":
            for key in ("format", "raw_mimetype"):
                cell.metadata.pop(key, None)
        elif cell.cell_type == "code":
            cell.outputs = [clean_output(output) for output in cell.get("outputs", [])]
        return cell, resources


__all__ = ["SanitizeOutputs", "clean_html", "clean_markdown", "clean_output"]
