"""The learning job: refit the difficulty weights from recorded signals and
propose them, with a threshold, in the policy draft. Never publishes.

    python manage.py learn_routing [--days 30]

Run it from cron (e.g. ``0 3 * * 1 cd /srv/hybridhub && .venv/bin/python
manage.py learn_routing``) or a Celery beat task calling
``apps.analytics.learning.run``; see docs/routing.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.analytics import learning


class Command(BaseCommand):
    help = "Propose difficulty weights and threshold learned from recorded signals (draft only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=30, help="how much history to learn from")

    def handle(self, *args: Any, **options: Any) -> None:
        proposals = learning.run(days=options["days"])
        if not proposals:
            self.stdout.write(
                f"Not enough recorded examples (at least {learning.MIN_EXAMPLES} with both "
                "outcomes per team); nothing proposed."
            )
            return
        for p in proposals:
            who = "organisation" if p.team_id is None else f"team {p.team_id}"
            moved = ", ".join(f"{k} {a:+.2f}→{b:+.2f}" for k, (a, b) in p.changes.items())
            self.stdout.write(
                f"{who}: {p.examples} examples, threshold {p.threshold:.2f}, "
                f"AUC {p.auc_before or 0:.2f}→{p.auc_after or 0:.2f}; {moved or 'no change'}"
            )
        self.stdout.write("Proposed in the policy draft; review it with replay, then publish.")
