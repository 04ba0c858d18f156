from django.core.management.base import BaseCommand

from apps.budgets.models import Budget
from apps.budgets.ratelimit import rate_windows_prune
from apps.budgets.selectors import budget_leased
from apps.budgets.services import budget_describe, budget_reconcile, budget_reservations_expire


class Command(BaseCommand):
    help = (
        "Release reservations of requests that died (crash, kill -9), re-derive every "
        "budget's spend from the usage ledger, and print the budgets."
    )

    def handle(self, *args: object, **options: object) -> None:
        expired = budget_reservations_expire()
        rate_windows_prune()
        self.stdout.write(f"Released {expired} stale reservation(s).")
        for budget in Budget.objects.select_related("team", "user", "api_key"):
            budget = budget_reconcile(budget=budget)
            self.stdout.write(budget_describe(budget))
            if budget_leased(budget):
                self.stdout.write(
                    "  spent not re-derived: a server process holds a lease on this budget "
                    "(its costs are charged when it goes back); run again once it is idle."
                )
