"""Untrusted text (encoder, entry and task names, record paths, rejection reasons) made inert for each output.

Names come from result records and bundles, i.e. from submitters. A Markdown table cell must not split
(``|``), open code spans, links or images, or carry raw HTML; an HTML cell must not carry tags; a plot label must
not be parsed as mathtext (:mod:`avbench.leaderboard.plots` turns ``text.parse_math`` off).
"""
from __future__ import annotations

import html
import re

__all__ = ["plain", "md_cell", "html_cell"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"[\t\r\n\u2028\u2029]+")
_MD = re.compile(r"([\\`*_\[\]|~!#])")


def plain(text: object) -> str:
    """``text`` as one line: control characters dropped, line breaks and tabs turned into spaces."""
    return _SPACE.sub(" ", _CONTROL.sub("", str(text)))


def md_cell(text: object) -> str:
    """A GitHub-Markdown table cell showing ``text`` literally: Markdown punctuation backslash-escaped (pipes
    included, so a cell never splits), ``& < >`` as entities (no raw HTML, no autolinks), one line."""
    s = html.escape(plain(text), quote=False)
    return _MD.sub(r"\\\1", s)


def html_cell(text: object) -> str:
    """``text`` as HTML text content (every ``& < > " '`` escaped), one line."""
    return html.escape(plain(text), quote=True)
