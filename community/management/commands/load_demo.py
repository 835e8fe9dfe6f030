from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from community import demo


class Command(BaseCommand):
    help = (
        "Load community demo data (sectors, challenges, rooms, replayed chat) from "
        "../shared/data where present, a smaller built-in set otherwise. Q&A: load_demo_qa."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", default=str(settings.SHARED_DATA_DIR))
        parser.add_argument("--chat-lines", type=int, default=300)
        parser.add_argument(
            "--accounts",
            action="store_true",
            help="Also create demo accounts with a known password (embedded default only).",
        )

    def handle(self, *args, **options):
        data_dir = Path(options["data"])
        if not data_dir.is_dir():
            self.stdout.write(f"No shared data at {data_dir}: loading the built-in smaller set.")
            data_dir = None
        if options["accounts"] and not demo_accounts_allowed():
            raise CommandError("Demo accounts are only for the embedded default (DEBUG, SQLite).")
        sectors = demo.sectors_load(data_dir)
        challenges = demo.challenges_load()
        if options["accounts"]:
            demo.accounts_load()
        chat = demo.chat_replay(data_dir, lines=options["chat_lines"])
        self.stdout.write(
            f"Demo data: {sectors} sectors, {challenges} challenges; "
            f"{chat} new chat lines replayed (lines already there are kept as they are)."
        )


def demo_accounts_allowed() -> bool:
    return bool(settings.DEBUG and settings.EMBEDDED)
