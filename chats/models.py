"""People, their chats, the messages in them, the options the assistant offers, and files."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only a hash of the secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'token'})"


class Chat(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats")
    title = models.CharField(max_length=200)
    message_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # What the chat list ranks by: the last message, or the creation time before any.
    last_activity_at = models.GeneratedField(
        expression=Coalesce(F("last_message_at"), F("created_at")),
        output_field=models.DateTimeField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(F("owner"), F("last_activity_at").desc(), F("id").desc(), name="chat_owner_activity_idx"),
        ]

    def __str__(self):
        return self.title


class Message(models.Model):
    class Author(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETE = "complete"
        FAILED = "failed"
        # The person stopped the reply while it was written: its text so far is kept, without options.
        STOPPED = "stopped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    # 1, 2, 3… within the chat: the order of the conversation and the list's cursor.
    position = models.PositiveIntegerField()
    author_type = models.CharField(max_length=10, choices=Author.choices)
    content_text = models.TextField(null=True, blank=True)  # noqa: DJ001 - the contract tells null from ""
    render_payload = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True, help_text="Why an assistant reply failed, in words for the person.")
    recommender = models.CharField(max_length=20, blank=True, help_text="Which recommender wrote the reply.")
    # On a person's message: the kind of result and the model picked in the composer ("" = any).
    preferred_kind = models.CharField(max_length=20, blank=True)
    preferred_model = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat", "position"], name="message_chat_position_uniq"),
        ]

    def __str__(self):
        return f"{self.author_type} #{self.position} in {self.chat_id}"

    INTERRUPTED = "This reply was interrupted before it finished. Retry it."

    @property
    def is_stale(self) -> bool:
        """A pending reply whose writer stopped touching it (a restart mid-reply)."""
        if self.status != self.Status.PENDING or self.updated_at is None:
            return False
        age = (timezone.now() - self.updated_at).total_seconds()
        return age > settings.RECOMMENDER_REPLY_STALE_SECONDS

    @property
    def display_status(self) -> str:
        return self.Status.FAILED if self.is_stale else self.status

    @property
    def display_error(self) -> str:
        return self.INTERRUPTED if self.is_stale else self.error


class Option(models.Model):
    class Kind(models.TextChoices):
        TEXT_TO_IMAGE = "text_to_image"
        IMAGE_TO_VIDEO = "image_to_video"
        TEXT_TO_VIDEO = "text_to_video"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    style = models.ForeignKey("generation.Style", null=True, blank=True, on_delete=models.PROTECT)
    motion = models.ForeignKey("generation.Motion", null=True, blank=True, on_delete=models.PROTECT)
    model_key = models.CharField(max_length=64)
    enhanced_prompt = models.TextField()
    reason = models.TextField()
    parameters = models.JSONField(default=dict, blank=True)
    result_url = models.URLField(max_length=2000, null=True, blank=True)  # noqa: DJ001 - null until generated
    # The image this option animates or reworks: an earlier result or attachment the request pointed at ("it",
    # "that image", "now as a video"); empty when the option starts from words alone.
    source_image_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["message", "position"], name="option_message_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(style__isnull=True) | Q(motion__isnull=True), name="option_style_or_motion"
            ),
        ]

    def __str__(self):
        return f"{self.kind} · {self.model_key}"

    @property
    def catalogue_id(self):
        """The Higgsfield id of the style or motion this option uses ('' when none)."""
        return str(self.style_id or self.motion_id or "")


def attachment_upload_to(instance, filename):
    return f"attachments/{instance.owner_id}/{uuid.uuid4().hex}/{filename}"


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments")
    chat = models.ForeignKey(Chat, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    option = models.ForeignKey(Option, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OTHER)
    mime = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to=attachment_upload_to, max_length=500)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["chat", "created_at", "id"], name="attachment_chat_idx"),
            models.Index(fields=["owner", "-created_at"], name="attachment_owner_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.file.name}"


class Upload(models.Model):
    """A presigned upload, recorded when its URL is given out (chats.uploads).

    The record, never the URL, says where the file goes and what it may be; the URL names only its id. Once
    used it becomes the Attachment of the same id, and `used_at` keeps it used even after that is deleted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    key = models.CharField(max_length=500, help_text="The storage name, made by us.")
    mime = models.CharField(max_length=100, help_text="The declared type, one we accept.")
    size_bytes = models.PositiveBigIntegerField(help_text="The declared size.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="upload_expires_idx")]

    def __str__(self):
        return f"upload {self.key}"


class LoginFailure(models.Model):
    """A log-in attempt that has not succeeded (chats.lockout): written before the password is checked and
    removed when it proves right, so an attempt still being checked counts already. Only keyed hashes of the
    name and the address are kept, never the name itself."""

    name_hash = models.CharField(max_length=64)
    address_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["name_hash", "created_at"], name="loginfailure_name_idx"),
            models.Index(fields=["address_hash", "created_at"], name="loginfailure_address_idx"),
            models.Index(fields=["created_at"], name="loginfailure_created_idx"),
        ]

    def __str__(self):
        return f"log-in failure at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ReplyRetry(models.Model):
    """One retry of a failed reply: it asks the recommender again, so retries are rate limited like posts."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reply = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="retries")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"], name="reply_retry_owner_idx")]

    def __str__(self):
        return f"retry of {self.reply_id} at {self.created_at:%Y-%m-%d %H:%M}"
