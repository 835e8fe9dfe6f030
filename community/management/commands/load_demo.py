from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from community import demo


class Command(BaseCommand):
    help = "Load demo data from ../shared/data where present (a smaller built-in set otherwise)."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=str(settings.SHARED_DATA_DIR))
        parser.add_argument("--chat-lines", type=int, default=300)
        parser.add_argument(
            "--accounts",
            action="store_true",
            help="Create demo accounts with a known password (refused outside the embedded default).",
        )

    def handle(self, *args, **options):
        data_dir = Path(options["data"])
        if not data_dir.is_dir():
            self.stdout.write(f"No shared data at {data_dir}: loading the built-in smaller set.")
            data_dir = None
        sectors = demo.sectors_load(data_dir)
        challenges = demo.challenges_load()
        accounts = []
        if options["accounts"]:
            if not (settings.DEBUG and settings.EMBEDDED):
                raise CommandError(
                    "Demo accounts are only for the embedded default (DEBUG, SQLite)."
                )
            accounts = demo.accounts_load()
        chat = demo.chat_replay(data_dir, lines=options["chat_lines"])
        qa_dir = data_dir / "qa" / "ai.meta.stackexchange.com" if data_dir else None
        if qa_dir and qa_dir.is_dir():
            call_command("import_stackexchange", str(qa_dir), stdout=self.stdout)
        else:
            call_command("load_demo_questions", stdout=self.stdout)
        self.stdout.write(
            f"Demo data: {sectors} sectors, {challenges} challenges, {chat} chat lines replayed."
        )
        if accounts:
            self.stdout.write("\nDemo sign-ins (embedded default only):")
            for role, email, password in accounts:
                self.stdout.write(f"  {role:<10} {email:<32} password: {password}")
