"""manage.py recount [--fix]: recompute Q&A scores and answer counts and report drift."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from qa.services import counters_recount


class Command(BaseCommand):
    help = (
        "Recompute every question's and answer's score (imported score + local votes) and "
        "each question's answer count (visible answers); print the drift, which must be zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Correct any drift found.")

    def handle(self, *args, fix: bool, **options):
        drift = counters_recount(fix=fix)
        self.stdout.write(
            f"checked {drift.questions} questions and {drift.answers} answers; "
            f"drift: {drift.total} (question scores: {len(drift.question_scores)}, "
            f"answer scores: {len(drift.answer_scores)}, "
            f"answer counts: {len(drift.answer_counts)}, view counts: {len(drift.view_counts)}, "
            f"accepted answers: {len(drift.accepted)})"
        )
        for label, rows in (
            ("question score", drift.question_scores),
            ("answer score", drift.answer_scores),
            ("answer count", drift.answer_counts),
            ("view count", drift.view_counts),
        ):
            for pk, stored, expected in rows:
                self.stdout.write(f"  {label} {pk}: stored {stored}, expected {expected}")
        for pk in drift.accepted:
            self.stdout.write(f"  question {pk}: accepted answer is hidden or not its own")
        if drift.total and not fix:
            raise CommandError("Counters have drifted; run `manage.py recount --fix` to correct.")
        if drift.total and fix:
            self.stdout.write("fixed.")
