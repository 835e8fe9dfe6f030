from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from qa.demo import questions_load


class Command(BaseCommand):
    help = "Load demo Q&A: the Stack Exchange dump in ../shared/data, or a few built-in questions."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=str(settings.SHARED_DATA_DIR))

    def handle(self, *args, **options):
        data_dir = Path(options["data"])
        for line in questions_load(data_dir if data_dir.is_dir() else None):
            self.stdout.write(line)
