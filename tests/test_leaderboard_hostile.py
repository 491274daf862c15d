"""Names are untrusted (issue 18): a board built from records with hostile encoder and task names keeps every
Markdown table's column count, carries no raw tag in the README, CSV or page, draws its plots (no mathtext), and
runs no script in a real headless Chromium."""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import pytest

from avbench.leaderboard.build import build_leaderboard
from tests._lb_records import esc50_groups, make_record

PIPE = "evil | re-run by maintainers | 9.9M params | ImageNet | official, media verified | paper | standard | 99.9"
SCRIPT = "<script>document.body.setAttribute('data-pwned','script')</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
MATH = r"$\frac{a}{b$"
OTHERS = ["back`tick` *bold* _it_ [link](javascript:alert(1)) ![i](http://x/y.png)", "two\nlines\ttab",
          "=HYPERLINK(\"http://x\")", "amp &amp; &lt;b&gt;", "back\\slash\\|pipe"]
NAMES = [PIPE, SCRIPT, IMG, MATH, *OTHERS]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    results = root / "results"
    for i, name in enumerate(NAMES):
        make_record(results, model=f"m{i}", task="esc50", groups=esc50_groups(0, [i % 5] * 5), weights_sha256=None,
                    init_seed=i, name=name, pretraining=name)
    # a hostile TASK name on a real card: an "own card" in its own table, its name a column header
    make_record(results, model="t", task="esc50", groups=esc50_groups(0, [2] * 5), weights_sha256=None, init_seed=9,
                task_name="esc50 | <b>bold</b> $x_{1$")
    result = build_leaderboard(results, None, root / "out")
    return result, root / "out"


def _cells(line: str) -> list[str]:
    """The cells of a GitHub-Markdown table row: split at pipes that are not backslash-escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _tables(text: str) -> list[list[str]]:
    tables, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def test_every_markdown_table_keeps_its_columns_and_no_tag_is_raw(hostile):
    result, out = hostile
    assert not result.board.rejected and not result.plot_errors, (result.board.rejected, result.plot_errors)
    readme = (out / "README.md").read_text()
    tables = _tables(readme)
    assert len(tables) >= 4
    for table in tables:
        width = len(_cells(table[0]))
        assert all(len(_cells(line)) == width for line in table), table
    for tag in ("<script", "<img", "<b>"):
        assert tag not in readme, tag
    # a link or image needs an unescaped "](" / "![": every bracket of a name is backslash-escaped
    assert r"\[link\](javascript" in readme and not re.search(r"(?<!\\)\]\(javascript", readme)
    assert r"\!\[i\]" in readme and not re.search(r"(?<!\\)!\[", readme)
    # the pipe-laden name stays in ONE cell; its row is unbundled, its own numbers stand
    main = next(t for t in tables if "esc50 top-1" in t[0] and "entry" in t[0])
    head = _cells(main[0])
    row = next(_cells(line) for line in main[2:] if "evil" in line)
    assert row[head.index("trust / source")] == "unbundled"
    assert row[head.index("entry")].startswith(r"evil \| re-run by maintainers \| 9.9M params")
    assert "99.9" not in row[head.index("esc50 top-1")]
    own = next(t for t in tables if any("own card" in line for line in t))
    assert any(r"esc50 \| &lt;b&gt;bold&lt;/b&gt; $x\_{1$ top-1" in c for c in _cells(own[0]))


def test_plots_draw_names_as_text_and_csv_cells_are_inert(hostile):
    _, out = hostile
    svg = (out / "plots" / "accuracy.svg").read_text()
    assert "<script" not in svg and "<img" not in svg and "&lt;script&gt;" in svg
    assert r"$\frac{a}{b$" in svg  # drawn literally, not parsed as (broken) mathtext
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    entries = {r["entry"] for r in rows}
    assert any(e.startswith("'=HYPERLINK") for e in entries) and not any(e.startswith("=") for e in entries)
    assert any(e.startswith("evil | re-run") for e in entries)  # CSV quotes it; the text is kept whole


def test_the_page_runs_no_script_in_headless_chromium(hostile, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`): the page was NOT checked in a browser")
    _, out = hostile
    page = (out / "index.html").read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower()
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
           "--dump-dom", (out / "index.html").resolve().as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert "<table" in dom and "avbench leaderboard" in dom
    assert not re.search(r"<script\b", dom, re.I) and not re.search(r"<img\b", dom, re.I)
    assert "data-pwned=" not in dom  # neither payload ran
    assert "&lt;script&gt;document.body.setAttribute" in dom  # the name is shown, as text
    assert dom.count("<table") == page.count("<table")
    header = dom[dom.index("<thead>"):dom.index("</thead>")]
    assert header.count("<th>") == page[page.index("<thead>"):page.index("</thead>")].count("<th>")


def test_the_page_parses_with_no_script_element_or_event_handler(hostile):
    """A real HTML parser (the standard library's, as browsers tokenise): no <script>, <img>, <iframe> or <object>
    element and no on* attribute anywhere, whatever the names held; the hostile names are text."""
    from html.parser import HTMLParser

    class Elements(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tags: list[str] = []
            self.handlers: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.handlers += [name for name, _ in attrs if name.lower().startswith("on")]

        def handle_data(self, data):
            self.text.append(data)

    _, out = hostile
    parser = Elements()
    parser.feed((out / "index.html").read_text())
    assert not {"script", "img", "iframe", "object", "embed", "b"} & set(parser.tags), set(parser.tags)
    assert parser.handlers == []
    text = "".join(parser.text)
    assert SCRIPT in text and IMG in text and MATH in text  # shown literally
