from django.contrib import admin
from django.http import HttpRequest

from .models import LanguageModel, ModelFallback, Provider, ProviderChange
from .services import provider_change_record, provider_values


class LanguageModelInline(admin.TabularInline):
    model = LanguageModel
    fields = ["name", "upstream_id", "context_window", "enabled"]
    extra = 0
    show_change_link = True


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "privacy_zone", "base_url", "enabled"]
    list_filter = ["kind", "privacy_zone", "enabled"]
    search_fields = ["name", "base_url"]
    inlines = [LanguageModelInline]

    # Every add, change and delete is recorded (ProviderChange, below).
    def save_model(self, request: HttpRequest, obj: Provider, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        before = provider_values(Provider.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        action = "changed" if change else "added"
        provider_change_record(actor=request.user, provider=obj, action=action, before=before)

    def delete_model(self, request: HttpRequest, obj: Provider) -> None:
        before = provider_values(obj)
        super().delete_model(request, obj)
        provider_change_record(actor=request.user, provider=obj, action="deleted", before=before)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for provider in queryset:
            self.delete_model(request, provider)


@admin.register(ProviderChange)
class ProviderChangeAdmin(admin.ModelAdmin):
    """Read-only: the trail of provider edits."""

    list_display = ["created_at", "actor", "action", "provider_name", "changes"]
    list_filter = ["action"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class FallbackInline(admin.TabularInline):
    model = ModelFallback
    fk_name = "model"
    fields = ["position", "fallback"]
    extra = 1
    verbose_name = "fallback"


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider",
        "context_window",
        "tier",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "enabled",
    ]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "upstream_id"]
    filter_horizontal = ["teams"]
    inlines = [FallbackInline]
    fieldsets = [
        (None, {"fields": ["provider", "name", "upstream_id", "context_window", "enabled"]}),
        ("What it can do", {"fields": ["tier", "can_call_tools", "can_structured_output"]}),
        (
            "Prices (micro-dollars per million tokens)",
            {"fields": ["input_price_per_mtok", "output_price_per_mtok"]},
        ),
        ("Who may use it", {"fields": ["teams"]}),
        (
            "Local runtime",
            {
                "fields": [
                    "model_file",
                    "model_type",
                    "gpu_layers",
                    "threads",
                    "chat_template",
                    "custom_chat_template",
                    "max_queue",
                    "queue_timeout_seconds",
                ]
            },
        ),
    ]
