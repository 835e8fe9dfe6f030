"""manage.py qa_sector_tags: give every sector its Q&A tag (idempotent)."""

from django.core.management.base import BaseCommand

from qa.services import sector_tags_sync


class Command(BaseCommand):
    help = "Create the Q&A tag of each sector (sector-a ... sector-u) that does not have one yet."

    def handle(self, *args, **options):
        self.stdout.write(f"sector tags created: {sector_tags_sync()}")
