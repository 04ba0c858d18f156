from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "apps.providers"
    label = "providers"

    def ready(self) -> None:
        # Invalidation, not business logic: signals catch every way a row
        # changes (admin forms and inlines, the teams M2M, commands, shells),
        # and the catalogue snapshot in every process must follow all of them.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .catalog import catalog_changed
        from .models import LanguageModel, ModelFallback, Provider

        for model in (Provider, LanguageModel, ModelFallback):
            post_save.connect(catalog_changed, sender=model, dispatch_uid=f"catalog-{model}")
            post_delete.connect(catalog_changed, sender=model, dispatch_uid=f"catalog-d-{model}")
        m2m_changed.connect(
            catalog_changed, sender=LanguageModel.teams.through, dispatch_uid="catalog-teams"
        )
