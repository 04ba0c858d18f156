from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.accounts.models import Team
from apps.accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user in one of their teams and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--team", required=True, help="team slug")
        parser.add_argument("--name", default="cli", help="a label for the key")
        parser.add_argument("--scope", default="inference", choices=["inference", "admin"],
                            help="admin: may also manage budgets (/v1/budgets/)")  # fmt: skip
        parser.add_argument("--expires-days", type=int, help="the key stops working after this")
        parser.add_argument("--rpm", type=int, help="requests per minute")
        parser.add_argument("--tpm", type=int, help="tokens per minute")

    def handle(self, *args: object, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        team = Team.objects.filter(slug=options["team"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        if team is None:
            raise CommandError(f"No team {options['team']!r}.")
        try:
            days = options["expires_days"]
            issued = api_key_create(
                user=user, team=team, name=options["name"], scope=options["scope"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                rpm_limit=options["rpm"], tpm_limit=options["tpm"],
            )  # fmt: skip
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(issued.secret)
