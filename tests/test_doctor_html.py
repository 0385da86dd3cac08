"""doctor's HTML table (lesson 00): left-aligned headers over left-aligned cells, `code` spans as <code>."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from extras_and_licenses import doctor


class _Cells(HTMLParser):
    """Collects (tag, style, text) for every <th> and <td>, and the text inside <code> tags."""

    def __init__(self):
        super().__init__()
        self.cells, self.code, self._open = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td", "code"):
            self._open.append([tag, dict(attrs).get("style", ""), ""])

    def handle_data(self, data):
        for item in self._open:
            item[2] += data

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            item = self._open.pop()
            (self.code if tag == "code" else self.cells).append(tuple(item))


def _report():
    report = doctor.Report()
    report.add("model t5-base", doctor.WARN, "not cached (0.9 GB): run `python -m extras_and_licenses prefetch`")
    report.add("torch", doctor.OK, "2.13.0 (tested: 2.4 to 2.15)")
    report.add("odd", doctor.FAIL, "one stray ` backtick & <angle>")
    return report


def test_every_header_and_cell_is_left_aligned():
    parser = _Cells()
    parser.feed(_report()._repr_html_())
    headers = [c for c in parser.cells if c[0] == "th"]
    assert [h[2] for h in headers] == ["status", "check", "detail"]
    for tag, style, text in parser.cells:
        assert re.search(r"text-align:\s*left", style), f"<{tag}> {text!r} is not left-aligned (style {style!r})"


def test_backticks_become_code_and_nothing_is_left_unescaped():
    html_text = _report()._repr_html_()
    parser = _Cells()
    parser.feed(html_text)
    assert ("code", "", "python -m extras_and_licenses prefetch") in parser.code
    details = [c[2] for c in parser.cells if c[0] == "td"]
    assert not any("`python" in d for d in details), details  # the paired backticks are gone
    assert "one stray ` backtick &amp; &lt;angle&gt;" in html_text  # an unpaired one stays, escaped
    assert "<angle>" not in html_text
