"""Background work of the chats app, run by the worker through Django's tasks API."""

from higgs_project.observability import task

from . import uploads


@task()
def uploads_cleanup() -> dict:
    """Remove uploads that were never sent with a message (see chats.uploads.uploads_cleanup)."""
    return uploads.uploads_cleanup()
