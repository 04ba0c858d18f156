from django.contrib import admin

from .models import LanguageModel, ModelFallback, Provider


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
