"""Derive the NER model's int8 graph from the installed 4-bit one, into
HYBRIDHUB_NER_CACHE_DIR (apps/policy/detectors/ner_graph.py): run at install so
that the first scans do not wait for the background derivation. With
HYBRIDHUB_NER_STUDENT on (the default) the smaller student's graph is
derived as well; the six layers' graph is what runs if the student cannot.

    python manage.py ner_derive
    python manage.py ner_derive --if-enabled   # make run: nothing to do where the model is off
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.policy.detectors import ner, ner_graph


class Command(BaseCommand):
    help = "Derive the NER model's int8 graph from the installed one (needs the ner extra)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--if-enabled",
            action="store_true",
            help="do nothing (and succeed) where the model tier is off or cannot run",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = settings.HYBRIDHUB_NER_CACHE_DIR
        if options["if_enabled"] and not (ner.active() and directory and ner_graph.can_derive()):
            return
        if directory is None:
            raise CommandError("HYBRIDHUB_NER_CACHE_DIR is empty: the shipped graph is used")
        if not ner.installed() or not ner_graph.can_derive():
            raise CommandError("needs the ner extra: pip install -e '.[ner]'")
        try:
            graphs = [ner.derived_graph(directory)]
            if settings.HYBRIDHUB_NER_STUDENT:
                graphs.append(ner.student_graph(directory))
        except (OSError, ValueError) as error:
            raise CommandError(f"could not derive the NER graph: {error}") from error
        for graph in graphs:
            if not options["if_enabled"]:
                self.stdout.write(graph.with_suffix(".json").read_text(encoding="utf-8"))
            self.stdout.write(f"{graph}")
