from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0003_provider_replica_urls"),
    ]

    operations = [
        migrations.AddField(
            model_name="languagemodel",
            name="tier",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (0, "By what the model is"),
                    (1, "1 small"),
                    (2, "2 mid-size"),
                    (3, "3 frontier"),
                ],
                default=0,
                help_text="Capability tier @capable routes by (docs/routing.md).",
            ),
        ),
    ]
