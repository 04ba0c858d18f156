from django.contrib import admin

from .models import Budget, BudgetEvent, Reservation


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "limit_micros", "period", "on_limit", "spent_micros",
                     "reserved_micros"]  # fmt: skip
    list_filter = ["scope", "period", "on_limit"]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["hold", "budget", "amount_micros", "created_at", "expires_at"]


@admin.register(BudgetEvent)
class BudgetEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "budget_label", "actor", "reason"]
    list_filter = ["kind"]
