# Presigned uploads recorded at presign time (chats.uploads): the server decides the storage key, and a
# ticket is used once (used_at), whatever becomes of its file.

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0004_login_failure"),
    ]

    operations = [
        migrations.CreateModel(
            name="Upload",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("key", models.CharField(help_text="The storage name, made by us.", max_length=500)),
                ("mime", models.CharField(help_text="The declared type, one we accept.", max_length=100)),
                ("size_bytes", models.PositiveBigIntegerField(help_text="The declared size.")),
                ("expires_at", models.DateTimeField()),
                ("used_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="uploads",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["expires_at"], name="upload_expires_idx")],
            },
        ),
    ]
