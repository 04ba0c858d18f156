"""Read-only views of versions, the audit trail and security events.

Policies are edited through the services (and the policy pages), never by
changing rows here: that would skip validation and the audit log.
"""

from django.contrib import admin

from .models import PolicyAuditEntry, PolicyVersion, SecurityEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["number", "status", "note", "created_at", "published_at", "published_by"]
    list_filter = ["status"]


@admin.register(PolicyAuditEntry)
class PolicyAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "version_number", "summary"]
    list_filter = ["action"]
    search_fields = ["summary"]


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "team", "user", "api_key"]
    list_filter = ["kind"]
