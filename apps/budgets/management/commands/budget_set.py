from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import ApiKey, Team
from apps.budgets.models import Budget
from apps.budgets.services import BudgetTarget, budget_describe, budget_set


def micros(amount: str) -> int:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise CommandError(f"--limit-usd {amount!r} is not an amount of dollars.") from None
    if not value.is_finite() or value < 0 or value > 10**9:
        raise CommandError("--limit-usd is between 0 and 1,000,000,000.")
    return int(value * 1_000_000)


class Command(BaseCommand):
    help = (
        "Set the budget of the organisation, a team, a user in a team or an API key, "
        "and print its state."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--org", action="store_true", help="the organisation's budget")
        where.add_argument("--team", help="team slug (with --user or --key: theirs)")
        parser.add_argument("--user", help="username: the user's budget within the team")
        parser.add_argument("--key", help="API key prefix: the key's budget")
        parser.add_argument("--limit-usd", required=True, help="e.g. 25 or 0.50")
        parser.add_argument("--period", required=True, choices=Budget.Period.values)
        parser.add_argument("--on-limit", default="block", choices=Budget.OnLimit.values)
        parser.add_argument("--warn-percent", type=int, default=80)
        parser.add_argument(
            "--local-closed",
            action="store_true",
            help="also stop on-prem models when the budget is used up",
        )

    def handle(self, *args: object, **options: str) -> None:
        target = self._target(options)
        try:
            budget = budget_set(
                target=target,
                limit_micros=micros(options["limit_usd"]),
                period=options["period"],
                on_limit=options["on_limit"],
                warn_percent=int(options["warn_percent"]),
                local_open=not options["local_closed"],
                reason="manage.py budget_set",
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(budget_describe(budget))

    def _target(self, options: dict[str, str]) -> BudgetTarget:
        if options["org"]:
            if options["user"] or options["key"]:
                raise CommandError("--user and --key go with --team.")
            return BudgetTarget(Budget.Scope.ORG)
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team {options['team']!r}.")
        if options["user"] and options["key"]:
            raise CommandError("Give --user or --key, not both.")
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None or not user.memberships.filter(team=team).exists():
                raise CommandError(f"No user {options['user']!r} in team {team.slug!r}.")
            return BudgetTarget(Budget.Scope.USER, team=team, user=user)
        if options["key"]:
            key = ApiKey.objects.filter(prefix=options["key"], team=team).first()
            if key is None:
                raise CommandError(f"No API key {options['key']!r} in team {team.slug!r}.")
            return BudgetTarget(Budget.Scope.KEY, team=team, api_key=key)
        return BudgetTarget(Budget.Scope.TEAM, team=team)
