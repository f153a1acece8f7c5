"""What Higgsfield offers (models, styles, motions, when they were last synced) and the generation jobs that
use it: one row per paid (or preview) generation, moved only through generation.services."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class CatalogueEntry(models.Model):
    # The Higgsfield id, so that options and generations refer to what the platform knows.
    id = models.UUIDField(primary_key=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    preview_url = models.URLField(max_length=1000, blank=True)
    enabled = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


class Style(CatalogueEntry):
    """An image style of Higgsfield's catalogue."""

    class Meta(CatalogueEntry.Meta):
        # The table kept its name when the catalogue moved here from the recommender app.
        db_table = "recommender_style"
        indexes = [models.Index(fields=["enabled", "sort_order"], name="style_enabled_order_idx")]


class Motion(CatalogueEntry):
    """A camera motion preset of Higgsfield's catalogue."""

    start_end_frame = models.BooleanField(
        default=False, help_text="The motion can take an end frame as well as a start frame."
    )

    class Meta(CatalogueEntry.Meta):
        db_table = "recommender_motion"
        indexes = [models.Index(fields=["enabled", "sort_order"], name="motion_enabled_order_idx")]


class CatalogueSync(models.Model):
    """When a catalogue was last refreshed from Higgsfield, and what changed."""

    class Kind(models.TextChoices):
        STYLES_AND_MOTIONS = "styles_motions", "Styles and motions"
        MODELS = "models", "Models"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.created_at:%Y-%m-%d %H:%M}"


class GenerationModel(models.Model):
    """A Higgsfield model we can run: its provider path and input schema (Higgsfield's facts) and how we offer it
    (our name, label, price, order, whether it is offered). Filled from our snapshot, refreshed by sync_models."""

    class Mode(models.TextChoices):
        TEXT_TO_IMAGE = "text_to_image", "Text to image"
        IMAGE_TO_VIDEO = "image_to_video", "Image to video"
        TEXT_TO_VIDEO = "text_to_video", "Text to video"

    name = models.SlugField(max_length=64, unique=True, help_text="The name clients send (model_name).")
    label = models.CharField(max_length=100)
    summary = models.CharField(max_length=200, blank=True, help_text="One line: what it is good at.")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    enabled = models.BooleanField(default=False, help_text="Offered to people and to the recommender.")
    credits = models.PositiveIntegerField(default=1, help_text="What one generation costs, in credits.")
    sort_order = models.PositiveIntegerField(default=0)
    provider_id = models.CharField(max_length=200, unique=True, help_text="Higgsfield's model id.")
    path = models.CharField(max_length=200, help_text="The URL path Higgsfield takes submissions at.")
    family = models.CharField(max_length=100, blank=True)
    input = models.CharField(max_length=30, blank=True, help_text="text, image, images, reference, ...")
    with_image = models.SlugField(
        max_length=64, blank=True, help_text="The model that makes this one's images when a reference image is given."
    )
    input_schema = models.JSONField(default=dict, help_text="Higgsfield's JSON Schema of the request body.")
    retired = models.BooleanField(default=False, help_text="No longer in Higgsfield's published spec.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "model"

    def __str__(self):
        return f"{self.label} ({self.name})"

    # The names the rest of the code reads a model by.
    @property
    def key(self) -> str:
        return self.name

    @property
    def kind(self) -> str:
        return self.mode

    @property
    def takes_style(self) -> bool:
        """Whether a style id goes to Higgsfield as such (otherwise the style is written into the prompt)."""
        return "style_id" in self.input_schema.get("properties", {})

    @property
    def takes_motion(self) -> bool:
        return "motions" in self.input_schema.get("properties", {})


class ModelAlias(models.Model):
    """A name existing clients send for a model Higgsfield does not offer under it; the note says what stood in."""

    name = models.SlugField(max_length=64, unique=True)
    model = models.ForeignKey(GenerationModel, on_delete=models.CASCADE, related_name="aliases")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "model aliases"

    def __str__(self):
        return f"{self.name} → {self.model.name}"


class Generation(models.Model):
    class Status(models.TextChoices):
        # Ours, waiting for one of the HIGGSFIELD_CONCURRENCY slots of our Higgsfield account (generation.pool).
        WAITING = "waiting"
        QUEUED = "queued"  # ours, holding a slot (Higgsfield) and being sent to the provider
        SUBMITTED = "submitted"  # accepted by the provider, waiting in its queue
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        NSFW = "nsfw"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"
        # Jobs of earlier versions whose submission may or may not have reached Higgsfield. Submissions now carry
        # an Idempotency-Key and are sent again until an answer comes, so no job ends this way any more.
        UNCONFIRMED = "unconfirmed"

    ACTIVE = (Status.WAITING, Status.QUEUED, Status.SUBMITTED, Status.IN_PROGRESS)
    # Running or done with a result: at most one job of a request is live (generation_one_live_per_request).
    LIVE = (*ACTIVE, Status.COMPLETED)
    # Holding one of our Higgsfield slots: sent or being sent, and not known to have ended there.
    HOLDING = (Status.QUEUED, Status.SUBMITTED, Status.IN_PROGRESS)
    FINAL = (Status.COMPLETED, Status.FAILED, Status.NSFW, Status.CANCELLED, Status.TIMED_OUT, Status.UNCONFIRMED)
    RETRYABLE = (Status.FAILED, Status.NSFW, Status.CANCELLED, Status.TIMED_OUT, Status.UNCONFIRMED)

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
    # The exact submission (URL with its webhook, JSON bytes), fixed before the first send: every resend under the
    # job's Idempotency-Key (its id) must be the same request, or Higgsfield refuses it (422).
    sent_url = models.TextField(blank=True)
    sent_body = models.TextField(blank=True)
    # Place in line while waiting for a Higgsfield slot (1: next), kept by generation.services.generation_pool_fill.
    queue_position = models.PositiveIntegerField(null=True, blank=True)
    # When it was handed one of our Higgsfield slots: a person served recently waits behind one served long ago.
    slot_at = models.DateTimeField(null=True, blank=True)
    # When Higgsfield said its request ended (a webhook), while we may still be copying the result: its slot is free.
    provider_done_at = models.DateTimeField(null=True, blank=True)
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
    # Set while a submission is on its way to the provider: a job found queued with it set may have arrived.
    sending_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True, help_text="When its owner last downloaded the result.")

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="generation_owner_idx"),
            models.Index(fields=["chat", "created_at"], name="generation_chat_idx"),
            models.Index(fields=["status", "next_check_at"], name="generation_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(status__in=["waiting", "queued", "submitted", "in_progress", "completed"]),
                name="generation_one_live_per_request",
            ),
        ]

    def __str__(self):
        return f"{self.kind} · {self.model_key} · {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class SubmissionPool(models.Model):
    """Our side of Higgsfield's account limit (requests queued or running at once): one row per provider, locked
    while slots are handed out, so every web and worker process counts the same slots (generation.pool)."""

    name = models.CharField(max_length=20, primary_key=True)
    limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Lowered after repeated capacity refusals; empty: HIGGSFIELD_CONCURRENCY."
    )
    refusals = models.PositiveIntegerField(default=0, help_text="Capacity refusals (400 or 429) since the start.")
    refusal_streak = models.PositiveIntegerField(default=0, help_text="Capacity refusals since the last acceptance.")
    paused_until = models.DateTimeField(null=True, blank=True, help_text="No submission before this (back-off).")
    last_refusal_at = models.DateTimeField(null=True, blank=True)
    limit_changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} pool"


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
