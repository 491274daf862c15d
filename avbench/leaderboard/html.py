"""The leaderboard as one static, self-contained HTML page (inline CSS, inline SVG plots, no scripts)."""
from __future__ import annotations

import html
import re
from typing import Mapping

from avbench.leaderboard.board import Board
from avbench.leaderboard.tables import PLOT_MISSING, PLOT_TITLES, blocks

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1600px;
       padding: 0 1em; color: #1b1b1b; background: #ffffff; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 12px; }
th, td { border: 1px solid #c8c8c8; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
tr.measured td { background: #f3f8ff; }
tr.reported td { color: #444; }
td.missing { color: #999; text-align: center; }
figure { margin: 1em 0 2em; }
figure svg { max-width: 100%; height: auto; border: 1px solid #e2e2e2; }
figcaption { font-weight: 600; margin-bottom: 0.4em; }
code { background: #f2f2f2; padding: 0 3px; }
dl dt { font-weight: 600; } dl dd { margin: 0 0 0.5em 1.5em; }
"""


def _inline(text: str) -> str:
    """Escape ``text`` and turn Markdown ``code`` spans into <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


def _svg_element(svg: str) -> str:
    """The ``<svg>`` element of a standalone SVG document (XML prolog and DOCTYPE dropped)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def render_html(board: Board, plots: Mapping[str, str | None] | None = None) -> str:
    """The page: the same content as the README (:func:`avbench.leaderboard.tables.blocks`) with the plots inline."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>avbench leaderboard</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    for b in blocks(board, plots):
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{_inline(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "legend":
            out.append("<dl>" + "".join(f"<dt>{_inline(t)}</dt><dd>{_inline(x)}</dd>" for t, x in b[1]) + "</dl>")
        elif kind == "plots":
            for name, svg in b[1].items():
                if svg:
                    out.append(f'<figure class="plot" id="plot-{name}"><figcaption>{html.escape(PLOT_TITLES[name])}'
                               f"</figcaption>{_svg_element(svg)}</figure>")
                else:
                    out.append(f'<p class="plot-missing">{html.escape(PLOT_TITLES[name])}: not drawn '
                               f"({html.escape(PLOT_MISSING[name])}).</p>")
        elif kind == "table":
            head, rows = b[1], b[2]
            kind_col = head.index("kind") if "kind" in head else None
            out.append("<table>")
            out.append("<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in head) + "</tr></thead><tbody>")
            for r in rows:
                cls = f' class="{html.escape(r[kind_col])}"' if kind_col is not None else ""
                cells = "".join(f'<td class="missing">{_inline(c)}</td>' if c == "—" else f"<td>{_inline(c)}</td>"
                                for c in r)
                out.append(f"<tr{cls}>{cells}</tr>")
            out.append("</tbody></table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
