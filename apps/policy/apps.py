import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger(__name__)


class PolicyConfig(AppConfig):
    name = "apps.policy"
    label = "policy"

    def ready(self) -> None:
        from .detectors import ner

        # auto: the model wherever the ner extra is installed (make install
        # installs it); a deployment without it runs the rule tier quietly.
        mode = settings.HYBRIDHUB_NER
        ner.configure(
            enabled=mode == "on" or (mode == "auto" and ner.installed()),
            cache_dir=settings.HYBRIDHUB_NER_CACHE_DIR,
            second_core=settings.HYBRIDHUB_NER_SECOND_CORE,
            student=settings.HYBRIDHUB_NER_STUDENT,
        )
        if mode == "on" and not ner.installed():
            log.warning("HYBRIDHUB_NER=on but the ner extra is not installed: rules only")
        # Load the secret rules now (detect-secrets' plugins, ours, and the
        # files in HYBRIDHUB_SECRET_RULES): the first prompt does not wait for
        # them, and an unreadable rule file stops the start with its path.
        from apps.policy.detectors import credentials

        credentials.rule_set()
