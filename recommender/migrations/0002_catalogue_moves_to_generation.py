# The style and motion catalogue now belongs to the generation app; its tables stay where they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0001_initial"),
        ("chats", "0003_catalogue_in_generation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Style"), migrations.DeleteModel(name="Motion")],
            database_operations=[],
        ),
    ]
