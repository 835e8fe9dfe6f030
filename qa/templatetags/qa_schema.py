"""`{{ data|ld_json }}`: a `<script type="application/ld+json">` block.

Built like Django's own `json_script`: the JSON is encoded with `<`, `>` and `&`
escaped as `\\u003C` etc., so no text inside it can close the script element.
"""

from __future__ import annotations

import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


class _Escaped(str):
    """JSON text with every character that could end a script element escaped."""

    def __html__(self) -> str:
        return str(self)


@register.filter
def ld_json(value: object) -> SafeString:
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', _Escaped(text))
