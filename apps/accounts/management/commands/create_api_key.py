from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Team
from apps.accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user in one of their teams and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--team", required=True, help="team slug")
        parser.add_argument("--name", default="cli", help="a label for the key")

    def handle(self, *args: object, **options: str) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        team = Team.objects.filter(slug=options["team"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        if team is None:
            raise CommandError(f"No team {options['team']!r}.")
        try:
            issued = api_key_create(user=user, team=team, name=options["name"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(issued.secret)
