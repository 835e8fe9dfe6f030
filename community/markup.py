"""The one renderer for user text: markdown-it-py (raw HTML off), then nh3.

User text is stored raw; this module makes the HTML shown for it. It is the only
place in Convene that marks user-derived HTML safe.
"""

from __future__ import annotations

import re

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table").enable("strikethrough")

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Our own markup only: raw HTML is off, so no member can write these classes themselves
# (and imported HTML's other classes are dropped).
ALLOWED_CLASSES = {"strong": {"mention"}}
# `@**Name**` or `@**Name|42**` (services.MENTION) as markdown renders it: shown as "@Name".
_MENTION_HTML = re.compile(r"@<strong>([^<|]{1,80})(?:\|\d{1,18})?</strong>")


def _clean(html: str, *, mentions: bool = True) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES if mentions else {},
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Raw member markdown to sanitised HTML, for storage beside the raw text."""
    html = _MENTION_HTML.sub(r'<strong class="mention">@\1</strong>', _markdown.render(text))
    return _clean(html)


def render_html_fragment(html: str) -> str:
    """Imported HTML (e.g. a Stack Exchange body) through the same allow-list, minus our
    own mention class, so imported text cannot pass for a mention."""
    return _clean(html, mentions=False)


def safe_html(stored_html: str) -> SafeString:
    """Stored rendered HTML, cleaned once more at display time, then marked safe."""
    return mark_safe(_clean(stored_html))  # noqa: S308 - nh3 allow-list output
