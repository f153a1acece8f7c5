# Failed log-ins counted in the database (chats.lockout), so that every web process sees the same count.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0003_catalogue_in_generation"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginFailure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name_hash", models.CharField(max_length=64)),
                ("address_hash", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["name_hash", "created_at"], name="loginfailure_name_idx"),
                    models.Index(fields=["address_hash", "created_at"], name="loginfailure_address_idx"),
                    models.Index(fields=["created_at"], name="loginfailure_created_idx"),
                ],
            },
        ),
    ]
