from django.db import migrations, models


class Migration(migrations.Migration):
    """Rows recorded before this migration had their rollups written with
    them, so they are added as folded; new rows default to unfolded."""

    dependencies = [
        ("gateway", "0002_usagerecord_budget_used"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddField(
                    model_name="usagerecord",
                    name="folded",
                    field=models.BooleanField(default=True, editable=False),
                ),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="usagerecord",
                    name="folded",
                    field=models.BooleanField(default=False, editable=False),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(
                condition=models.Q(("folded", False)), fields=["id"], name="usage_unfolded"
            ),
        ),
    ]
