from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from higgs_project.observability import task_log_lines_under_request_ids

        from . import signals  # noqa: F401

        task_log_lines_under_request_ids()
