"""Generation jobs: one row per paid (or preview) generation, moved only through generation.services."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"  # ours, not yet sent to the provider
        SUBMITTED = "submitted"  # accepted by the provider, waiting in its queue
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        NSFW = "nsfw"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"

    ACTIVE = (Status.QUEUED, Status.SUBMITTED, Status.IN_PROGRESS)
    FINAL = (Status.COMPLETED, Status.FAILED, Status.NSFW, Status.CANCELLED, Status.TIMED_OUT)
    RETRYABLE = (Status.FAILED, Status.NSFW, Status.CANCELLED, Status.TIMED_OUT)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    option = models.ForeignKey(
        "chats.Option", null=True, blank=True, on_delete=models.CASCADE, related_name="generations"
    )
    chat = models.ForeignKey("chats.Chat", null=True, blank=True, on_delete=models.CASCADE, related_name="generations")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    kind = models.CharField(max_length=20)  # text_to_image, image_to_video, text_to_video
    model_key = models.CharField(max_length=64)
    prompt = models.TextField()
    style_id = models.UUIDField(null=True, blank=True)
    motion_id = models.UUIDField(null=True, blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    parameters = models.JSONField(default=dict, blank=True, help_text="What the person asked for, checked.")
    provider = models.CharField(max_length=20)  # "higgsfield" or "preview"
    provider_input = models.JSONField(default=dict, blank=True, help_text="The body sent to the provider.")
    provider_request_id = models.CharField(max_length=100, blank=True, db_index=True)
    # Same owner, option, model and parameters: one paid generation, not two.
    dedupe_key = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=200, blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="Adjustments made to the request, for the person.")
    attempts = models.PositiveSmallIntegerField(default=0)
    polls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    webhook_token = models.CharField(max_length=64, unique=True)
    # The one tracking step that may run; a step holding another token is a stale duplicate.
    track_token = models.CharField(max_length=32, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    result = models.ForeignKey("chats.Attachment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="generation_owner_idx"),
            models.Index(fields=["chat", "created_at"], name="generation_chat_idx"),
            models.Index(fields=["status", "next_check_at"], name="generation_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(status__in=["queued", "submitted", "in_progress", "completed"]),
                name="generation_one_live_per_request",
            ),
        ]

    def __str__(self):
        return f"{self.kind} · {self.model_key} · {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class CreditAccount(models.Model):
    """A person's balance of credits; changed only through generation.credits, each change in the ledger."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account")
    balance = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The database itself refuses an overspend, whatever a bug upstream might try.
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative"),
        ]

    def __str__(self):
        return f"{self.user} · {self.balance} credits"


class CreditEntry(models.Model):
    """One change of a balance: the starting grant, a charge, a refund or a staff adjustment."""

    class Reason(models.TextChoices):
        GRANT = "grant"  # the starting balance
        CHARGE = "charge"
        REFUND = "refund"
        ADJUST = "adjust"  # by staff, with a note

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="entries")
    # Kept when the job goes (its chat deleted), so the ledger still adds up.
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_entries"
    )
    amount = models.IntegerField(help_text="Credits added (positive) or taken (negative).")
    balance_after = models.IntegerField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    note = models.CharField(max_length=200, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "credit entries"
        indexes = [models.Index(fields=["account", "-created_at"], name="credit_entry_account_idx")]
        constraints = [
            # One charge and at most one refund per job, whatever delivers the news twice.
            models.UniqueConstraint(fields=["generation"], condition=Q(reason="charge"), name="credit_one_charge"),
            models.UniqueConstraint(fields=["generation"], condition=Q(reason="refund"), name="credit_one_refund"),
        ]

    def __str__(self):
        return f"{self.reason} {self.amount:+d}"
