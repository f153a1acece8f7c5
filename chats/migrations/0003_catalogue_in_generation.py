# Options point at the styles and motions that now belong to the generation app (same tables).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0002_message_preferences"),
        ("generation", "0004_catalogue_moves_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="option",
                    name="style",
                    field=models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to="generation.style"
                    ),
                ),
                migrations.AlterField(
                    model_name="option",
                    name="motion",
                    field=models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to="generation.motion"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
