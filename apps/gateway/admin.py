from django.contrib import admin

from .models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Read-only: the ledger is written by the gateway alone and never edited or deleted."""

    list_display = [
        "created_at", "user", "team", "model_name", "privacy_zone", "status",
        "prompt_tokens", "completion_tokens", "cost_micros", "ttft_ms", "latency_ms",
    ]  # fmt: skip
    list_filter = ["status", "source", "privacy_zone", "team", "model_name"]
    search_fields = ["code", "user__username", "model_name", "error_type"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # append-only: no delete, and so no "delete selected" action

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [field.name for field in UsageRecord._meta.fields]
