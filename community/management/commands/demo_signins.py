from django.core.management.base import BaseCommand, CommandError

from community import demo
from community.management.commands.load_demo import demo_accounts_allowed
from community.models import Member


class Command(BaseCommand):
    help = "Print the demo sign-ins (embedded default only)."

    def handle(self, *args, **options):
        if not demo_accounts_allowed():
            raise CommandError("Demo sign-ins exist only in the embedded default.")
        self.stdout.write("\nDemo sign-ins (embedded default only; password for all three):")
        for member in Member.objects.filter(email__endswith="@demo.convene.test").order_by("pk"):
            role = "moderator" if member.is_moderator else "member"
            organisation = member.organisation.name if member.organisation else ""
            self.stdout.write(f"  {role:<10} {member.email:<30} {organisation}")
        self.stdout.write(f"  password:  {demo.DEMO_PASSWORD}\n")
