"""Files leave storage when their attachment rows are deleted (a chat's deletion included)."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Attachment


@receiver(post_delete, sender=Attachment)
def attachment_file_delete(sender, instance, **kwargs):
    if instance.file:
        storage, name = instance.file.storage, instance.file.name
        # Only once the deletion commits: a rolled-back delete must keep its file.
        transaction.on_commit(lambda: storage.delete(name))
