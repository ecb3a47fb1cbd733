"""The feedback page's exporter: nbconvert's ``HTMLExporter`` without the work that is
the same for every student or that the feedback template does not need.

``c.GenerateFeedback.exporter_class`` names it in the course's ``nbgrader_config.py``;
it reads the ``HTMLExporter`` configuration nbgrader sets (the ``feedback`` template).
Two costs of the stock exporter, measured per feedback page (benchmarks/bench_throughput.py):

- after rendering, ``HTMLExporter.from_notebook_node`` parses the whole page with
  BeautifulSoup (about 5,000 tags: every highlighted token is a ``<span>``) to give
  images without ``alt`` a default one and to make cells of the JupyterLab template
  focusable, then serialises it again: ~0.7 CPU-s. Here the same ``alt`` is added to
  the ``<img>`` tags found by an exact match of HTML's attribute syntax; a page whose
  ``<img`` tags that match does not cover, or that has JupyterLab cells (never the
  classic-based ``feedback`` template), gets the stock BeautifulSoup pass;
- every exporter compiles its Jinja templates afresh (~0.2 CPU-s): a process-wide
  bytecode cache (keyed by template name, file and source checksum) compiles them once;
- pygments highlights every code cell (~0.25 CPU-s), most of them given cells that are
  the same for every student: the highlighted HTML is remembered per lexer, formatter
  options, source, language and the cell's ``magics_language`` (all that nbconvert's
  filter reads).
"""

from __future__ import annotations

import json
import re

import jinja2
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

#: nbconvert's text for an image without alternative text.
MISSING_ALT = "No description has been provided for this image"

# One attribute as html.parser (the BeautifulSoup builder nbconvert uses) reads it.
_ATTRIBUTE = r"""\s+([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_IMG_TAG = re.compile(rf"<img((?:{_ATTRIBUTE})*)\s*/?>", re.IGNORECASE)
_ATTRIBUTE_NAME = re.compile(_ATTRIBUTE)
_IMG_OPEN = re.compile(r"<img\b", re.IGNORECASE)


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process (Jinja checks the source)."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _MemoryBytecodeCache()
_HIGHLIGHTED: dict[tuple, str] = {}
_HIGHLIGHTED_MAX = 4096


class _RememberedHighlight:
    """nbconvert's ``Highlight2HTML`` filter, each distinct input highlighted once."""

    def __init__(self, highlight: Highlight2HTML):
        self.highlight = highlight

    def __call__(self, source, language=None, metadata=None):
        options = json.dumps(self.highlight.extra_formatter_options, sort_keys=True, default=repr)
        key = (
            self.highlight.pygments_lexer,
            options,
            source,
            language,
            # the only key of the cell's metadata nbconvert's _pygments_highlight reads
            # (the rest, e.g. nbclient's execution times, differs from student to student)
            json.dumps(metadata.get("magics_language"), default=repr) if metadata else None,
        )
        html = _HIGHLIGHTED.get(key)
        if html is None:
            html = self.highlight(source, language, metadata)
            if len(_HIGHLIGHTED) < _HIGHLIGHTED_MAX:
                _HIGHLIGHTED[key] = html
        return html


def add_missing_alt(html: str) -> tuple[str, int] | None:
    """``html`` with the default ``alt`` added to every ``<img>`` that has none, and how
    many got one; None when some ``<img`` is not a tag this can read exactly."""
    tags = list(_IMG_TAG.finditer(html))
    if len(tags) != len(_IMG_OPEN.findall(html)):
        return None
    parts, end, added = [], 0, 0
    for tag in tags:
        names = {name.lower() for name in _ATTRIBUTE_NAME.findall(tag.group(1))}
        if "alt" not in names:
            insert = tag.start() + len("<img")
            parts += [html[end:insert], f' alt="{MISSING_ALT}"']
            end = insert
            added += 1
    parts.append(html[end:])
    return "".join(parts), added


class FeedbackHTMLExporter(HTMLExporter):
    """``HTMLExporter`` with cached templates and no second parse of the page."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATES
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node up to its BeautifulSoup pass (nbconvert 7).
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
        )
        if isinstance(highlight_code, Highlight2HTML):
            highlight_code = _RememberedHighlight(highlight_code)
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        fixed = None if "jp-Notebook" in html else add_missing_alt(html)
        html, missing_alt = _stock_pass(html) if fixed is None else fixed
        if missing_alt:
            self.log.warning("Alternative text is missing on %s image(s).", missing_alt)
        return html, resources


def _stock_pass(html: str) -> tuple[str, int]:
    """HTMLExporter's BeautifulSoup pass (nbconvert 7), for pages the fast path leaves."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, features="html.parser")
    missing_alt = 0
    for elem in soup.select("img:not([alt])"):
        elem.attrs["alt"] = MISSING_ALT
        missing_alt += 1
    for elem in soup.select(".jp-Notebook div.jp-Cell-inputWrapper"):
        elem.attrs["tabindex"] = "0"
    for elem in soup.select(".jp-Notebook div.jp-OutputArea-output"):
        elem.attrs["tabindex"] = "0"
    return str(soup), missing_alt
