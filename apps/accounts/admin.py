from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from .models import ApiKey, Membership, Team
from .services import api_key_create, api_key_revoke


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "team", "scope", "expires_at", "rpm_limit", "tpm_limit"]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["scope"].required = False  # empty: completions only

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or ApiKey.Scope.INFERENCE

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        user, team = data.get("user"), data.get("team")
        if user and team and not Membership.objects.filter(user=user, team=team).exists():
            raise forms.ValidationError(f"{user} is not a member of {team}.")
        return data


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "team", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["team", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "team", "scope", "expires_at", "rpm_limit", "tpm_limit", "prefix",
              "created_at", "last_used_at", "revoked_at"]  # fmt: skip
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]
    form = ApiKeyForm

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # The owner and team of an existing key never change.
        extra = ["user", "team"] if obj else []
        return [*self.readonly_fields, *extra]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_key_create(
            user=obj.user, team=obj.team, name=obj.name, scope=obj.scope,
            expires_at=obj.expires_at, rpm_limit=obj.rpm_limit, tpm_limit=obj.tpm_limit,
        )  # fmt: skip
        obj.pk, obj.prefix = issued.api_key.pk, issued.api_key.prefix
        messages.warning(request, f"Copy this key now, it is not shown again: {issued.secret}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
