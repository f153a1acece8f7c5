# The style and motion catalogue moves here from the recommender app. Only Django's record of the models
# moves: the tables keep their names (see Style.Meta.db_table), so no data is copied.

from django.db import migrations, models


def _entry_fields():
    return [
        ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
        ("name", models.CharField(max_length=200)),
        ("description", models.TextField(blank=True)),
        ("preview_url", models.URLField(blank=True, max_length=1000)),
        ("enabled", models.BooleanField(default=True)),
        ("sort_order", models.PositiveIntegerField(default=0)),
        ("created_at", models.DateTimeField(auto_now_add=True)),
        ("updated_at", models.DateTimeField(auto_now=True)),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0003_model_catalogue"),
        ("recommender", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Style",
                    fields=_entry_fields(),
                    options={
                        "ordering": ["sort_order", "name"],
                        "abstract": False,
                        "db_table": "recommender_style",
                        "indexes": [models.Index(fields=["enabled", "sort_order"], name="style_enabled_order_idx")],
                    },
                ),
                migrations.CreateModel(
                    name="Motion",
                    fields=[
                        *_entry_fields(),
                        (
                            "start_end_frame",
                            models.BooleanField(
                                default=False,
                                help_text="The motion can take an end frame as well as a start frame.",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["sort_order", "name"],
                        "abstract": False,
                        "db_table": "recommender_motion",
                        "indexes": [models.Index(fields=["enabled", "sort_order"], name="motion_enabled_order_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.CreateModel(
            name="CatalogueSync",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("styles_motions", "Styles and motions"), ("models", "Models")], max_length=20
                    ),
                ),
                ("summary", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]
