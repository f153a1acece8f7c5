from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_models(sender, using="default", **kwargs):
    """A fresh database (and a flushed test database) gets the models of our snapshot."""
    from django.db import connections

    from .model_catalogue import models_load_snapshot
    from .models import GenerationModel

    # Migrated backwards past the table's creation: nothing to fill.
    if GenerationModel._meta.db_table in connections[using].introspection.table_names():
        models_load_snapshot(if_empty=True)


class GenerationConfig(AppConfig):
    name = "generation"

    def ready(self):
        post_migrate.connect(_load_models, sender=self, dispatch_uid="generation-load-models")
        from django.db.models.signals import post_delete, post_save

        from . import tasks  # noqa: F401  (enqueues the steps the services plan)
        from .model_catalogue import model_labels_forget
        from .models import GenerationModel, ModelAlias

        for model in (GenerationModel, ModelAlias):
            post_save.connect(model_labels_forget, sender=model, dispatch_uid=f"labels-save-{model.__name__}")
            post_delete.connect(model_labels_forget, sender=model, dispatch_uid=f"labels-delete-{model.__name__}")
