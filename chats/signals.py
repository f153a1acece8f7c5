"""Files leave storage when their attachment rows are deleted (a chat's deletion included); tokens
found lately are forgotten when any token or user changes; a finished generation shows in the reply that
offered it, and a job may use the person's uploads (generation.signals)."""

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from generation.models import Generation
from generation.services import GenerationError
from generation.signals import generation_completed, own_file_find
from higgs_project.apikit.auth import api_tokens_forget

from .models import ApiToken, Attachment, User
from .services import option_result_show
from .uploads import UploadError, upload_find_by_url


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


@receiver(user_logged_out)
def sessions_changed(sender, **kwargs):
    # A session ended here: no poll of this process accepts its cookie any more.
    api_tokens_forget()


@receiver(generation_completed, sender=Generation)
def generation_result_show(sender, *, generation, attachment, **kwargs):
    option_result_show(generation=generation, attachment=attachment)


@receiver(own_file_find, sender=Generation)
def generation_upload_find(sender, *, owner, url, **kwargs):
    """An upload straight to S3 has no attachment yet: it is checked and made on first use."""
    try:
        return upload_find_by_url(owner=owner, url=url)
    except UploadError as exc:
        raise GenerationError(str(exc), status=exc.status) from None
