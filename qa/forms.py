"""Forms carry the user's text to the services and back; the rules live in qa.services."""

from __future__ import annotations

import re

from django import forms

from qa.selectors import sector_tag_choices

_SEPARATORS = re.compile(r"[\s,]+")


class QuestionForm(forms.Form):
    # required=False and strip=False: the service decides (one set of rules and messages),
    # and whatever was typed comes back unchanged when the form is shown again.
    title = forms.CharField(required=False, strip=False, label="Title")
    body = forms.CharField(
        required=False,
        strip=False,
        label="Your question",
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown: **bold**, _italic_, `code`, [links](https://example.org).",
    )
    sector = forms.ChoiceField(required=False, label="Sector")
    tags = forms.CharField(
        required=False,
        strip=False,
        label="Topic tags",
        help_text="Up to 5 tags in all, separated by spaces or commas, e.g. funding export",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sector"].choices = [("", "No particular sector"), *sector_tag_choices()]

    def tag_names(self) -> list[str]:
        data = self.cleaned_data
        names = [name for name in _SEPARATORS.split(data.get("tags") or "") if name]
        if data.get("sector"):
            names.insert(0, data["sector"])
        return names

    @classmethod
    def for_question(cls, question) -> QuestionForm:
        tags = list(question.tags.all())
        sector = next((tag.slug for tag in tags if tag.sector_id), "")
        free = " ".join(tag.slug for tag in tags if tag.slug != sector)
        return cls(
            initial={"title": question.title, "body": question.body, "sector": sector, "tags": free}
        )


class AnswerForm(forms.Form):
    body = forms.CharField(
        required=False,
        strip=False,
        label="Your answer",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown: **bold**, _italic_, `code`, [links](https://example.org).",
    )


def form_refused(form: forms.Form, error) -> None:
    """Show a service refusal on the form: on its fields, or above the form."""
    placed = False
    for name, detail in (error.fields or {}).items():
        if name in form.fields:
            form.add_error(name, detail)
            placed = True
    if not placed:
        form.add_error(None, error.detail)
