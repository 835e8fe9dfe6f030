"""manage.py import_stackexchange DIR [--site NAME]: a Stack Exchange dump as Q&A."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qa.importer import ImportFailed, stackexchange_import


class Command(BaseCommand):
    help = (
        "Import a Stack Exchange data dump folder (Posts.xml, Votes.xml) as questions, "
        "answers, votes and accepted answers, credited to the site and its licence; and, "
        "when present, Users.xml (authors' names), Tags.xml (tag descriptions), "
        "Comments.xml (comments) and PostHistory.xml (revisions). "
        "Safe to re-run: rows already imported are updated in place, nothing is duplicated. "
        "Reports what was created, updated, unchanged and skipped (and why)."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="Folder holding Posts.xml and Votes.xml.")
        parser.add_argument(
            "--site",
            default=None,
            help="The site's host name, e.g. ai.meta.stackexchange.com (default: the folder name).",
        )

    def handle(self, *args, directory: Path, site: str | None, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        try:
            report = stackexchange_import(directory=directory, site=site, progress=self._progress)
        except ImportFailed as error:
            raise CommandError(str(error)) from None
        finally:
            self.stderr.write("")
        for line in report.lines():
            self.stdout.write(line)

    def _progress(self, name: str, done: int, size: int) -> None:
        """A one-line bar on stderr (stdout keeps the report clean for scripts)."""
        width = 30
        filled = width * done // size if size else width
        percent = 100 * done // size if size else 100
        self.stderr.write(
            f"\r{name:<14} [{'#' * filled}{'.' * (width - filled)}] {percent:3d}%", ending=""
        )
        self.stderr.flush()
