"""Retrain the difficulty estimator on the dev set's train split and write
apps/policy/data/difficulty.json (review the diff before committing it).

    python manage.py retrain_difficulty [--dry-run]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.policy import difficulty, difficulty_fit


class Command(BaseCommand):
    help = "Retrain the difficulty estimator on the dev set (bench/routing) and write its weights."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        from bench.routing.devset import build

        rows = [r for r in build() if r["split"] == "train"]
        if len(rows) < 20 or len({r["label"] for r in rows}) < 2:
            self.stderr.write("Too few labelled training items: run python -m bench.routing.label")
            return
        model = difficulty_fit.fit_texts([r["turns"] for r in rows], [r["label"] for r in rows])
        weights = difficulty.Weights(
            model["bias"], model["features"], model["ngrams"], 0.5, (0.5, 0.75)
        )
        scores = [
            difficulty.score(
                difficulty.features_of(
                    r["turns"], estimated_tokens=difficulty_fit._tokens(r["turns"]),
                    max_tokens=None, ngrams=weights.ngrams,
                )[0],
                weights=weights,
            ).score
            for r in rows
        ]  # fmt: skip
        threshold = difficulty_fit.operating_point(scores, [r["label"] for r in rows])
        model["threshold"] = threshold
        model["tier_cutoffs"] = [threshold, round(threshold + (1 - threshold) / 2, 4)]
        self.stdout.write(
            f"{len(rows)} training items, {len(model['ngrams'])} n-grams kept, "
            f"operating point {threshold:.2f}"
        )
        if not options["dry_run"]:
            difficulty_fit.write(model)
            difficulty.shipped.cache_clear()
            self.stdout.write(f"wrote {difficulty.WEIGHTS_FILE}")
