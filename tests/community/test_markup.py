"""The one renderer, against real hostile and conformance inputs from ../shared/data."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

from community.markup import (
    mentions_find,
    mentions_mark,
    render_html_fragment,
    render_markdown,
    safe_html,
)

ALLOWED_SCHEMES = {"", "http", "https", "mailto"}


class _Audit(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in {"script", "style", "iframe", "object", "embed", "form", "input", "svg", "math"}:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (name in {"style"} and tag not in {"td", "th"}):
                self.problems.append(f"{tag}[{name}]")
            if name in {"href", "src"}:
                scheme = urlsplit(value or "").scheme.lower()
                if scheme not in ALLOWED_SCHEMES:
                    self.problems.append(f"{tag}[{name}={value!r}]")
        if tag == "a":
            self.links.append(attributes)


def audit(html: str) -> _Audit:
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser


def xss_cases(text: str) -> list[str]:
    """Inputs of markdown-it's fixture format: title, '.', input, '.', expected, '.'."""
    lines = text.split("\n")
    cases, i = [], 0
    while i < len(lines):
        if lines[i] == ".":
            end = lines.index(".", i + 1)
            cases.append("\n".join(lines[i + 1 : end]))
            i = lines.index(".", end + 1) + 1
        else:
            i += 1
    return cases


def test_markdown_xss_cases_render_safely(shared_data):
    cases = xss_cases((shared_data / "markdown" / "xss.md").read_text(encoding="utf-8"))
    assert len(cases) >= 8
    for source in cases:
        result = audit(render_markdown(source))
        assert result.problems == [], (source, result.problems)


def test_javascript_links_never_survive():
    html = render_markdown(
        "[x](javascript:alert(1)) <script>alert(1)</script> [y](https://ok.example)"
    )
    assert 'href="javascript' not in html.lower()
    assert "<script" not in html
    assert "&lt;script&gt;" in html  # raw HTML is shown as text, not dropped
    (link,) = audit(html).links
    assert link["href"] == "https://ok.example"
    assert set(link["rel"].split()) == {"nofollow", "ugc", "noopener"}


def test_imported_html_goes_through_the_same_allow_list():
    html = render_html_fragment(
        '<p onclick="x()">Hi <a href="javascript:alert(1)">a</a><img src=x onerror=alert(1)></p>'
        "<script>alert(1)</script>"
    )
    assert audit(html).problems == []
    assert "alert" not in html


class _Shape(HTMLParser):
    """Tags, attributes (less rel) and text of an HTML fragment, ignoring serialisation."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.items.append(("<", tag, tuple(sorted((k, v) for k, v in attrs if k != "rel"))))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self.items.append((">", tag))

    def handle_data(self, data):
        if self.items and self.items[-1][0] == "text":
            self.items[-1] = ("text", self.items[-1][1] + data)
        else:
            self.items.append(("text", data))


def shape(html: str) -> list[tuple]:
    parser = _Shape()
    parser.feed(html)
    parser.close()
    return [item for item in parser.items if not (item[0] == "text" and not item[1].strip())]


def test_commonmark_spec_examples_render_safely_and_conform(shared_data):
    examples = json.loads((shared_data / "markdown" / "commonmark.json").read_text("utf-8"))
    assert len(examples) == 652
    mismatches = []
    for example in examples:
        html = render_markdown(example["markdown"])
        assert audit(html).problems == [], example["example"]
        # Raw HTML is off by design, so examples with '<' in the source render as text;
        # every other example must mean what the CommonMark spec says.
        if "<" not in example["markdown"] and shape(html) != shape(example["html"]):
            mismatches.append(example["example"])
    assert mismatches == []


def test_naughty_strings_render_and_stay_safe(shared_data):
    strings = json.loads((shared_data / "hostile" / "blns.json").read_text("utf-8"))
    assert len(strings) > 500
    for text in strings:
        html = render_markdown(text)
        assert audit(html).problems == [], text
        assert str(safe_html(html)) == html  # stored output is already clean: idempotent


def test_safe_html_cleans_again_before_marking_safe():
    from django.utils.safestring import SafeString

    shown = safe_html('<p>ok</p><script>alert(1)</script><a href="javascript:x">y</a>')
    assert isinstance(shown, SafeString)
    assert audit(shown).problems == []
    assert "<p>ok</p>" in shown and "alert" not in shown


def test_mentions_are_found_in_the_html_and_only_named_ones_are_marked():
    html = render_markdown(
        "thanks @**Amira Shah** and @**Tom Baines|42**, `@**In Code**`, not **bold**\n\n"
        "```\n@**In Fence**\n```"
    )
    assert mentions_find(html) == [("Amira Shah", None), ("Tom Baines", 42)]
    marked = mentions_mark(html, {("Tom Baines", 42): "Tom <Baines>"})
    assert '<strong class="mention">@Tom &lt;Baines&gt;</strong>' in marked and "|42" not in marked
    assert "@<strong>Amira Shah</strong>" in marked  # names nobody: left as typed
    assert "<strong>bold</strong>" in marked and "<code>@**In Code**</code>" in marked
    # The class is ours alone: imported HTML cannot fake a mention or add other classes.
    fake = render_html_fragment('<strong class="mention">@Boss</strong><em class="x">y</em>')
    assert "class" not in fake and "<em>y</em>" in fake
    typed = render_markdown('<strong class="mention">@Boss</strong>')
    assert "<strong" not in typed and "&lt;strong" in typed  # raw HTML is shown as text
    assert 'class="mention"' in safe_html(marked)  # and survives the display-time clean
