"""Questions, answers, votes and tags.

Scores and answer counts are denormalised counters. They change only in
`qa.services`, with `F()` expressions, in the same transaction as the row they
count (a Vote, an Answer); `manage.py recount` recomputes them and reports drift.

    question.score     = question.imported_score + sum(local votes on it)
    answer.score       = answer.imported_score + sum(local votes on it)
    question.answer_count = number of its answers that are not hidden

Imported posts (a Stack Exchange dump) keep their provenance: `source_site`,
`source_id`, links back to the post and its author, and the licence.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def exactly_one(first: str, second: str, *, name: str) -> models.CheckConstraint:
    """The row points at exactly one of two targets (a question or an answer, say)."""
    return models.CheckConstraint(
        condition=(Q(**{f"{first}__isnull": False}) & Q(**{f"{second}__isnull": True}))
        | (Q(**{f"{first}__isnull": True}) & Q(**{f"{second}__isnull": False})),
        name=name,
    )


def unique_per_target(owner: str, target: str, *, name: str) -> models.UniqueConstraint:
    """One row per owner and target, for rows that point at that kind of target."""
    return models.UniqueConstraint(
        fields=[owner, target], condition=Q(**{f"{target}__isnull": False}), name=name
    )


class Tag(models.Model):
    """A topic label. Sector tags (one per SIC section) link to their Sector."""

    name = models.CharField(max_length=200, help_text="Shown to people.")
    slug = models.CharField(max_length=35, unique=True, help_text="What is typed and filtered on.")
    sector = models.OneToOneField(
        "community.Sector", null=True, blank=True, on_delete=models.CASCADE, related_name="tag"
    )
    created = models.DateTimeField(default=timezone.now)
    description = models.TextField(
        blank=True, default="", help_text="Plain text; an imported tag's wiki excerpt."
    )
    description_source = models.URLField(
        blank=True, default="", help_text="Where an imported description came from (credit)."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("qa:tag_detail", args=[self.slug])


LICENCE_URLS = {
    "CC BY-SA 2.5": "https://creativecommons.org/licenses/by-sa/2.5/",
    "CC BY-SA 3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC BY-SA 4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}


class Provenance(models.Model):
    """Where an imported post came from, so the pages showing it can credit it."""

    source_site = models.CharField(max_length=100, blank=True, default="")
    source_id = models.PositiveIntegerField(null=True, blank=True)
    source_url = models.URLField(blank=True, default="")
    source_author_url = models.URLField(blank=True, default="")
    source_author_id = models.PositiveIntegerField(null=True, blank=True)
    source_author_name = models.CharField(
        max_length=100, blank=True, default="", help_text="The author's name on the source site."
    )
    licence = models.CharField(max_length=40, blank=True, default="")
    imported_score = models.IntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def is_imported(self) -> bool:
        return bool(self.source_site)

    @property
    def licence_url(self) -> str:
        return LICENCE_URLS.get(self.licence, "")

    @property
    def source_author_label(self) -> str:
        """How the source's author is credited: their name there, else "user N"."""
        if self.source_author_name:
            return self.source_author_name
        if self.source_author_id:
            return f"user {self.source_author_id}"
        return "a community user"


class Question(Provenance):
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="Raw markdown (or the original HTML of an imported post).")
    html = models.TextField(help_text="Sanitised HTML from the one renderer.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="questions",
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(null=True, blank=True)
    last_activity = models.DateTimeField(default=timezone.now)
    score = models.IntegerField(default=0)
    answer_count = models.PositiveIntegerField(default=0)
    accepted_answer = models.ForeignKey(
        "qa.Answer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_locked = models.BooleanField(default=False, help_text="Moderator lock: no new posts.")
    tags = models.ManyToManyField(Tag, related_name="questions", blank=True)
    view_count = models.PositiveIntegerField(default=0, help_text="Once per member per day.")
    addressed_organisation = models.ForeignKey(
        "community.Organisation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="questions_addressed",
    )
    addressed_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="questions_addressed",
    )
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    closed = models.DateTimeField(null=True, blank=True, help_text="Closed as a duplicate.")
    stream = models.OneToOneField("realtime.Stream", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_site", "source_id"],
                condition=~Q(source_site=""),
                name="question_unique_source",
            )
        ]
        indexes = [
            models.Index(fields=["-created", "-id"], name="question_newest"),
            models.Index(fields=["-score", "-id"], name="question_votes"),
            models.Index(fields=["-last_activity", "-id"], name="question_active"),
            models.Index(fields=["answer_count", "-created", "-id"], name="question_unanswered"),
        ]
        # Full-text search indexes (PostgreSQL GIN, SQLite FTS5) are made by migration
        # 0002 for the database in use; see qa/search.py.

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("qa:question_detail", args=[self.pk])


class Answer(Provenance):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    body = models.TextField()
    html = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="answers",
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(null=True, blank=True)
    score = models.IntegerField(default=0)
    is_hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["-score", "created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_site", "source_id"],
                condition=~Q(source_site=""),
                name="answer_unique_source",
            )
        ]
        indexes = [
            models.Index(fields=["question", "-score", "created"], name="answer_by_score"),
        ]

    def __str__(self) -> str:
        return f"Answer {self.pk} to question {self.question_id}"

    def get_absolute_url(self) -> str:
        return f"{self.question.get_absolute_url()}#answer-{self.pk}"


class Vote(models.Model):
    """One member's vote on one post: +1 or -1. Undoing a vote deletes the row."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_votes"
    )
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="votes"
    )
    answer = models.ForeignKey(
        Answer, null=True, blank=True, on_delete=models.CASCADE, related_name="votes"
    )
    value = models.SmallIntegerField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            unique_per_target("member", "question", name="vote_one_per_member_question"),
            unique_per_target("member", "answer", name="vote_one_per_member_answer"),
            exactly_one("question", "answer", name="vote_exactly_one_target"),
            models.CheckConstraint(
                condition=Q(value__in=[1, -1]), name="vote_value_plus_minus_one"
            ),
        ]

    def __str__(self) -> str:
        target = f"question {self.question_id}" if self.question_id else f"answer {self.answer_id}"
        return f"{self.member_id} {self.value:+d} on {target}"


class QuestionView(models.Model):
    """One row per member per question per day: a question's views count once a day."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["question", "member", "day"], name="question_view_once_a_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} viewed {self.question_id} on {self.day}"


class Revision(models.Model):
    """One version of a question or an answer. Revision 1 is the original post."""

    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="revisions"
    )
    answer = models.ForeignKey(
        Answer, null=True, blank=True, on_delete=models.CASCADE, related_name="revisions"
    )
    number = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField()
    tags = models.CharField(max_length=300, blank=True, default="", help_text="Space separated.")
    summary = models.CharField(max_length=300, blank=True, default="")
    source_author = models.CharField(
        max_length=100, blank=True, default="", help_text="An imported revision's author there."
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "number"],
                condition=Q(question__isnull=False),
                name="revision_number_per_question",
            ),
            models.UniqueConstraint(
                fields=["answer", "number"],
                condition=Q(answer__isnull=False),
                name="revision_number_per_answer",
            ),
            exactly_one("question", "answer", name="revision_exactly_one_target"),
        ]

    def __str__(self) -> str:
        return f"Revision {self.number} of {'question' if self.question_id else 'answer'} {self.question_id or self.answer_id}"


class Comment(models.Model):
    """A short remark on a question or an answer (no votes, no threading)."""

    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="comments"
    )
    answer = models.ForeignKey(
        Answer, null=True, blank=True, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    html = models.TextField()
    created = models.DateTimeField(default=timezone.now)
    source_site = models.CharField(max_length=100, blank=True, default="")
    source_id = models.PositiveIntegerField(null=True, blank=True)
    source_author = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            exactly_one("question", "answer", name="comment_exactly_one_target"),
            models.UniqueConstraint(
                fields=["source_site", "source_id"],
                condition=~Q(source_site=""),
                name="comment_unique_source",
            ),
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {'question' if self.question_id else 'answer'} {self.question_id or self.answer_id}"


class Follow(models.Model):
    """A member follows a question or a tag and is told of new answers/questions."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_follows"
    )
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="follows"
    )
    tag = models.ForeignKey(
        Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="follows"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            unique_per_target("member", "question", name="follow_one_per_question"),
            unique_per_target("member", "tag", name="follow_one_per_tag"),
            exactly_one("question", "tag", name="follow_exactly_one_target"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} follows {'question ' + str(self.question_id) if self.question_id else 'tag ' + str(self.tag_id)}"
