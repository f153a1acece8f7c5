"""Where generations run: Higgsfield when its keys are set, or the local preview provider.

Both answer the same questions (prepare a submission, submit it, status, cancel, fetch), so the job machinery in
generation.services does not know which one it drives.
"""

import logging

from django.conf import settings

from chats.selectors import attachment_find_by_url
from higgs_project.storage import storage_is_s3

from .higgsfield import HiggsfieldClient, HiggsfieldError, RequestStatus, Submission
from .model_catalogue import model_get
from .model_schema import TEXT_TO_IMAGE, body_urls_map

logger = logging.getLogger(__name__)

HIGGSFIELD = "higgsfield"
PREVIEW = "preview"


def provider_name() -> str:
    return HIGGSFIELD if settings.HIGGSFIELD_KEY_ID and settings.HIGGSFIELD_KEY_SECRET else PREVIEW


def webhook_url(generation) -> str:
    if not settings.PUBLIC_BASE_URL:
        return ""
    return f"{settings.PUBLIC_BASE_URL}/api/higgsfield/webhook/{generation.webhook_token}"


class HiggsfieldProvider:
    name = HIGGSFIELD

    def prepare(self, generation) -> Submission:
        """The submission every send of this job carries: the model's path, the body with each of our files in it
        made fetchable by Higgsfield (uploaded to its storage where it cannot reach us), our webhook."""
        model = model_get(generation.model_key)
        if model is None:
            raise HiggsfieldError(f"The model {generation.model_key!r} is no longer offered.", permanent=True)
        with HiggsfieldClient() as client:
            body = body_urls_map(
                model.input_schema, generation.provider_input, lambda url: fetchable_url(generation, url, client)
            )
            return client.submission(model.path, body, webhook_url=webhook_url(generation))

    def submit(self, generation, submission: Submission) -> str:
        # The job's id is its key: every send of it is one generation at Higgsfield, never a second.
        with HiggsfieldClient() as client:
            return client.submit(submission, idempotency_key=str(generation.pk))

    def status(self, generation) -> RequestStatus:
        with HiggsfieldClient() as client:
            return client.status(generation.provider_request_id)

    def cancel(self, generation) -> bool:
        with HiggsfieldClient() as client:
            return client.cancel(generation.provider_request_id)

    def fetch(self, generation, status: RequestStatus) -> bytes:
        with HiggsfieldClient() as client:
            return client.fetch(status.result_url, max_bytes=settings.GENERATION_RESULT_MAX_BYTES)


class PreviewProvider:
    """Renders results locally (images with Pillow, H.264 MP4 clips with PyAV), on a clock set by the PREVIEW_*
    settings; nothing leaves the machine.

    Its state lives in the generation row (submitted_at), so any worker can answer for it.
    """

    name = PREVIEW

    def prepare(self, generation) -> Submission:
        return Submission(url=f"preview://{generation.pk}", body=b"")

    def submit(self, generation, submission: Submission) -> str:
        return f"preview-{generation.pk}"

    def _elapsed(self, generation) -> float:
        from django.utils import timezone

        return (timezone.now() - generation.submitted_at).total_seconds() if generation.submitted_at else 0.0

    def _outcome(self, generation) -> str:
        if settings.PREVIEW_FAIL_EVERY > 0:
            from .models import Generation

            position = Generation.objects.filter(provider=PREVIEW, created_at__lte=generation.created_at).count()
            if position % settings.PREVIEW_FAIL_EVERY == 0:
                return "failed"
        return settings.PREVIEW_OUTCOME

    def status(self, generation) -> RequestStatus:
        elapsed = self._elapsed(generation)
        if elapsed < settings.PREVIEW_QUEUE_SECONDS:
            return RequestStatus(status="queued")
        if elapsed < settings.PREVIEW_QUEUE_SECONDS + settings.PREVIEW_WORK_SECONDS:
            return RequestStatus(status="in_progress")
        outcome = self._outcome(generation)
        if outcome == "completed":
            return RequestStatus(status="completed", result_url=f"preview://{generation.pk}")
        if outcome == "nsfw":
            return RequestStatus(status="nsfw")
        return RequestStatus(status="failed", error="The local preview provider was set to fail this job.")

    def cancel(self, generation) -> bool:
        return self._elapsed(generation) < settings.PREVIEW_QUEUE_SECONDS

    def fetch(self, generation, status: RequestStatus) -> bytes:
        from . import preview

        name = _catalogue_name(generation)
        if generation.kind == TEXT_TO_IMAGE:
            width, height = _preview_frame(generation, long_side=1024, default=(1024, 768))
            return preview.render_image(prompt=generation.prompt, style_name=name, width=width, height=height)
        width, height = _preview_frame(generation, long_side=640, default=(640, 360))
        frame = {"width": width, "height": height}
        try:
            return preview.render_clip(
                prompt=generation.prompt, motion_name=name, source=_source_image(generation), **frame
            )
        except ValueError:
            # A source we cannot read as an image: animate a rendered scene instead.
            return preview.render_clip(prompt=generation.prompt, motion_name=name, **frame)


def _preview_frame(generation, *, long_side: int, default: tuple[int, int]) -> tuple[int, int]:
    """The preview's size in the frame the job asked for ("9:16" is tall), its long side `long_side` pixels and
    both sides even (a clip's colour is stored at half size); `default` when no frame was asked for."""
    ratio = str((generation.parameters or {}).get("aspect_ratio") or "")
    width, _, height = ratio.partition(":")
    if not (width.isdigit() and height.isdigit() and int(width) and int(height)):
        return default
    w, h = int(width), int(height)
    scale = long_side / max(w, h)
    return 2 * round(w * scale / 2), 2 * round(h * scale / 2)


def _catalogue_name(generation) -> str:
    from generation.models import Motion, Style

    if generation.style_id:
        return Style.objects.filter(pk=generation.style_id).values_list("name", flat=True).first() or ""
    if generation.motion_id:
        return Motion.objects.filter(pk=generation.motion_id).values_list("name", flat=True).first() or ""
    return ""


def _source_image(generation) -> bytes | None:
    """The image to animate, when it is one of ours."""
    attachment = attachment_find_by_url(owner=generation.owner, url=generation.image_url)
    if attachment is None or not attachment.file:
        return None
    try:
        with attachment.file.open("rb") as handle:
            return handle.read()
    except OSError:
        logger.warning("The source image of generation %s could not be read", generation.pk)
        return None


def fetchable_url(generation, url: str, client: HiggsfieldClient) -> str:
    """A URL of the job's body that Higgsfield can fetch: for one of the owner's files, a fresh presigned GET or
    public URL from S3, our public URL, or (local disk without PUBLIC_BASE_URL: our host may be a laptop) the file
    put on Higgsfield's own storage; any other URL (a public https one, checked when the job was made) as it is."""
    attachment = attachment_find_by_url(owner=generation.owner, url=url)
    if attachment is None or not attachment.file:
        return url
    if storage_is_s3():
        return attachment.file.url
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + attachment.file.url
    try:
        with attachment.file.open("rb") as handle:
            data = handle.read()
    except OSError:
        raise HiggsfieldError("A file of this job could not be read from our storage.", permanent=True) from None
    return client.upload(data, content_type=attachment.mime)


def get_provider(name: str):
    return HiggsfieldProvider() if name == HIGGSFIELD else PreviewProvider()


__all__ = ["HiggsfieldError", "fetchable_url", "get_provider", "provider_name", "webhook_url"]
