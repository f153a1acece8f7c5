"""Files leave storage when their attachment rows are deleted (a chat's deletion included); tokens
found lately are forgotten when any token or user changes."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import ApiToken, Attachment, User
from .services import api_tokens_forget


@receiver(post_delete, sender=Attachment)
def attachment_file_delete(sender, instance, **kwargs):
    if instance.file:
        storage, name = instance.file.storage, instance.file.name
        # Only once the deletion commits: a rolled-back delete must keep its file.
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_save, sender=ApiToken)
@receiver(post_delete, sender=ApiToken)
@receiver(post_save, sender=User)
@receiver(post_delete, sender=User)
def api_tokens_changed(sender, **kwargs):
    # A revoked token, a deactivated or deleted person: refused from the next call on, in this process.
    api_tokens_forget()
