from django import template

from community.markup import safe_html

register = template.Library()


@register.filter
def rendered(stored_html: str):
    """Show stored, sanitised HTML: cleaned again by the one renderer, then marked safe."""
    return safe_html(stored_html or "")
