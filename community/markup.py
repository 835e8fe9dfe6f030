"""The one renderer for user text: markdown-it-py (raw HTML off), then nh3.

User text is stored raw; this module makes the HTML shown for it. It is the only
place in Convene that marks user-derived HTML safe.
"""

from __future__ import annotations

import re
from html import escape, unescape

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table").enable("strikethrough")


def _escaped_at_as_entity(state) -> None:
    """`\\@**Name**` is the literal text, not a mention: its `@` is written as `&#64;`, which
    the mention pattern does not see (nh3 turns it back into a plain `@`)."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type == "text_special" and token.info == "escape" and token.content == "@":
                token.type, token.content = "html_inline", "&#64;"


_markdown.core.ruler.before("text_join", "escaped_at", _escaped_at_as_entity)

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
# `@**Name**` or `@**Name|42**` as markdown renders it. Found in the HTML, not the raw
# text, so `@**Name**` inside code (rendered as text) is no mention.
_MENTION_HTML = re.compile(r"@<strong>([^<|]{1,80})(?:\|([1-9]\d{0,17}))?</strong>")


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


def render_markdown(text: str, *, mentions=None) -> str:
    """Raw member markdown to sanitised HTML, for storage beside the raw text.

    `mentions`, if given, is called with the mentions found ([(name, id or None)]) and
    returns {(name, id): display name} for those that name a member; they are shown as
    "@Display Name", the rest stay as typed."""
    html = _markdown.render(text)
    if mentions is not None:
        found = mentions_find(html)
        html = mentions_mark(html, mentions(found) if found else {})
    return _clean(html)


def _mention_key(match: re.Match) -> tuple[str, int | None]:
    """(name as typed, id or None) of one mention in rendered HTML."""
    return unescape(match[1]).strip(), int(match[2]) if match[2] else None


def mentions_find(html: str) -> list[tuple[str, int | None]]:
    """The (name, id or None) of each mention in rendered HTML, in order, repeats dropped."""
    return list(dict.fromkeys(_mention_key(match) for match in _MENTION_HTML.finditer(html)))


def mentions_mark(html: str, names: dict[tuple[str, int | None], str]) -> str:
    """Show the mentions that name a member as "@Their Name"; the rest stay as typed (bold),
    so an author can see that a mention went nowhere."""

    def mark(match: re.Match) -> str:
        name = names.get(_mention_key(match))
        return match[0] if name is None else f'<strong class="mention">@{escape(name)}</strong>'

    return _MENTION_HTML.sub(mark, html) if names else html


def render_html_fragment(html: str) -> str:
    """Imported HTML (e.g. a Stack Exchange body) through the same allow-list, minus our
    own mention class, so imported text cannot pass for a mention."""
    return _clean(html, mentions=False)


def safe_html(stored_html: str) -> SafeString:
    """Stored rendered HTML, cleaned once more at display time, then marked safe."""
    return mark_safe(_clean(stored_html))  # noqa: S308 - nh3 allow-list output
