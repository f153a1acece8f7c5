"""Generation endpoints: the contract's blocking generate, the non-blocking jobs API, Higgsfield's webhook."""

import asyncio
import re
import time
import uuid
from datetime import datetime
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from chats.selectors import option_get
from higgs_project.apikit.auth import api_auth_async
from higgs_project.apikit.errors import ErrorOut
from higgs_project.apikit.inputs import absolute_url, contains_nul
from higgs_project.apikit.pagination import Page

from . import credits, model_catalogue, selectors, services
from .model_schema import parameters_schema
from .models import Generation

router = Router(tags=["generation"])

Mode = Literal["text-to-image", "image-to-video", "text-to-video"]


class Parameters(Schema):
    aspect_ratio: str | None = Field(default=None, max_length=10)
    quality: str | None = Field(default=None, max_length=10)
    seed: int | None = None
    duration: int | None = None
    resolution: str | None = Field(default=None, max_length=10)
    style_strength: float | None = None
    motion_strength: float | None = None
    enhance_prompt: bool | None = None
    # The model's own settings, checked against its schema (GET /api/higgsfield/models lists them).
    parameters: dict[str, Any] | None = None

    def values(self) -> dict:
        """The contract's flat fields, as given."""
        return self.model_dump(include=set(Parameters.model_fields) - {"parameters"}, exclude_none=True)


class GenerateIn(Parameters):
    model_config = ConfigDict(extra="forbid")
    option_id: uuid.UUID
    mode: Mode
    model_name: str | None = Field(default=None, max_length=64)
    image_url: str | None = Field(default=None, max_length=2000)


class GenerationIn(Parameters):
    model_config = ConfigDict(extra="forbid")
    option_id: uuid.UUID | None = None
    mode: Mode | None = None
    model_name: str | None = Field(default=None, max_length=64)
    prompt: str | None = Field(default=None, max_length=5000)
    image_url: str | None = Field(default=None, max_length=2000)
    style_id: uuid.UUID | None = None
    motion_id: uuid.UUID | None = None
    motion_ids: list[uuid.UUID] | None = Field(default=None, max_length=2)


class GenerationOut(Schema):
    id: uuid.UUID
    status: str
    stage: str
    mode: str
    model_key: str
    provider: str
    option_id: uuid.UUID | None
    chat_id: uuid.UUID | None
    retry_of: uuid.UUID | None
    prompt: str
    style_id: uuid.UUID | None
    motion_id: uuid.UUID | None
    image_url: str | None
    parameters: dict
    notes: list[str]
    error: str | None
    attempts: int
    # While the job waits for one of our Higgsfield slots: its place in line (1: next); null otherwise.
    queue_position: int | None
    url: str | None
    preview_url: str | None
    mime: str | None
    width: int | None
    height: int | None
    duration_ms: int | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def build(request, g: Generation) -> "GenerationOut":
        result = g.result
        url = absolute_url(request, result.file.url) if result and result.file else None
        return GenerationOut(
            id=g.id,
            status=g.status,
            stage=g.stage,
            mode=g.kind.replace("_", "-"),
            model_key=g.model_key,
            provider=g.provider,
            option_id=g.option_id,
            chat_id=g.chat_id,
            retry_of=g.retry_of_id,
            prompt=g.prompt,
            style_id=g.style_id,
            motion_id=g.motion_id,
            image_url=g.image_url or None,
            parameters=g.parameters,
            notes=g.notes,
            error=g.error or None,
            attempts=g.attempts,
            queue_position=g.queue_position if g.status == Generation.Status.WAITING else None,
            url=url,
            preview_url=url,
            mime=result.mime if result else None,
            width=result.width if result else None,
            height=result.height if result else None,
            duration_ms=result.duration_ms if result else None,
            created_at=g.created_at,
            updated_at=g.updated_at,
            submitted_at=g.submitted_at,
            started_at=g.started_at,
            finished_at=g.finished_at,
        )


class GenerationPage(Schema):
    items: list[GenerationOut]
    next_cursor: str | None
    has_more: bool


class GenerateOut(Schema):
    url: str
    preview_url: str
    generation_id: uuid.UUID
    status: str
    notes: list[str]


class ListQuery(Schema):
    chat: uuid.UUID | None = None
    option: uuid.UUID | None = None
    limit: int = Field(default=20, ge=1, le=settings.API_PAGE_MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


# What a job that ended without a result answers on the blocking route.
FAILURE_STATUS = {"failed": 502, "nsfw": 422, "timed_out": 504, "cancelled": 409, "unconfirmed": 502}


def _out(request, generation) -> dict:
    """The job as the API shows it, read again with its result after a change."""
    generation = selectors.generation_get(user=request.auth, generation_id=generation.pk)
    return GenerationOut.build(request, generation).model_dump()


def _request(
    request, *, option, mode, model_name, payload, prompt=None, style_id=None, motion_id=None, motion_ids=None
):
    if mode is None and option is None:
        raise services.GenerationError("Say the mode (text-to-image, image-to-video or text-to-video).")
    kind = mode.replace("-", "_") if mode else option.kind
    if model_name is None:
        if option is None or option.kind != kind:
            raise services.GenerationError("Say which model (model_name).")
        model_name = option.model_key
    return services.generation_request(
        owner=request.auth,
        option=option,
        kind=kind,
        model_key=model_name,
        prompt=prompt,
        parameters=payload.parameters,
        flat=payload.values(),
        image_url=payload.image_url or "",
        style_id=style_id,
        motion_id=motion_id,
        motion_ids=motion_ids,
        absolute_url=lambda url: absolute_url(request, url),
    )


def _generate_sync(request, payload: GenerateIn):
    option = option_get(user=request.auth, option_id=payload.option_id)
    done = selectors.generation_latest_result(option=option)
    if done is not None:
        return done
    generation, _created = _request(
        request, option=option, mode=payload.mode, model_name=payload.model_name, payload=payload
    )
    return generation


class GenerateFailedOut(ErrorOut):
    """A job that ended without a result (failed, nsfw, timed out, cancelled)."""

    generation_id: uuid.UUID | None = None
    status: str | None = None


@router.post(
    "/higgsfield/generate",
    response={200: GenerateOut, 202: GenerationOut, frozenset({*FAILURE_STATUS.values(), 402, 429}): GenerateFailedOut},
)
async def generate(request, payload: GenerateIn):
    """Generate an option and wait for the result (up to GENERATION_WAIT_SECONDS) without holding a thread."""
    started = await sync_to_async(_generate_sync)(request, payload)
    job = selectors.generation_of(user_id=request.auth.pk, generation_id=started.pk)
    deadline = time.monotonic() + settings.GENERATION_WAIT_SECONDS
    generation = await job.aget()
    while generation.status not in Generation.FINAL and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        generation = await job.aget()
    body = GenerationOut.build(request, generation).model_dump()
    if generation.status == Generation.Status.COMPLETED:
        return GenerateOut(
            url=body["url"],
            preview_url=body["preview_url"],
            generation_id=generation.pk,
            status=generation.status,
            notes=generation.notes,
        )
    if generation.status in FAILURE_STATUS:
        return Status(
            FAILURE_STATUS[generation.status],
            {
                "detail": generation.error or generation.status,
                "generation_id": str(generation.pk),
                "status": generation.status,
            },
        )
    return Status(202, body)


def _create(request, payload: GenerationIn):
    option = option_get(user=request.auth, option_id=payload.option_id) if payload.option_id else None
    generation, _ = _request(
        request,
        option=option,
        mode=payload.mode,
        model_name=payload.model_name,
        payload=payload,
        prompt=payload.prompt,
        style_id=payload.style_id,
        motion_id=payload.motion_id,
        motion_ids=payload.motion_ids,
    )
    return _out(request, generation)


@router.post("/generations", response={202: GenerationOut, frozenset({402, 429}): ErrorOut})
def generation_create(request, payload: GenerationIn):
    """Start a generation from an option (the option's prompt, style or motion) or from a prompt alone."""
    return Status(202, _create(request, payload))


@router.get("/generations", response=GenerationPage)
def generation_list(request, query: Query[ListQuery]):
    page: Page = selectors.generation_list(
        user=request.auth, chat_id=query.chat, option_id=query.option, limit=query.limit, cursor=query.cursor
    )
    return GenerationPage(
        items=[GenerationOut.build(request, g) for g in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/generations/{generation_id}", response=GenerationOut, auth=api_auth_async)
async def generation_detail(request, generation_id: uuid.UUID):
    """A card polls this while its job runs: one query, through the ORM's async API."""
    try:
        generation = await selectors.generation_of(user_id=request.auth.pk, generation_id=generation_id).aget()
    except Generation.DoesNotExist:
        raise Http404(selectors.GENERATION_NOT_FOUND) from None
    return GenerationOut.build(request, generation).model_dump()


@router.post("/generations/{generation_id}/cancel", response={200: GenerationOut, frozenset({409, 502}): ErrorOut})
def generation_cancel(request, generation_id: uuid.UUID):
    generation = selectors.generation_get(user=request.auth, generation_id=generation_id)
    return _out(request, services.generation_cancel(generation=generation))


@router.post(
    "/generations/{generation_id}/retry", response={202: GenerationOut, frozenset({402, 409, 422, 429}): ErrorOut}
)
def generation_retry(request, generation_id: uuid.UUID):
    generation = selectors.generation_get(user=request.auth, generation_id=generation_id)
    return Status(202, _out(request, services.generation_retry(generation=generation)))


class ModelOut(Schema):
    name: str
    mode: str
    label: str
    summary: str
    credits: int
    parameters: dict[str, Any] = Field(description="JSON Schema of the settings a client may send as `parameters`.")


@router.get("/higgsfield/models", response=list[ModelOut], auth=None)
def model_list(request):
    """The models on offer: each with its mode, price in credits and the JSON Schema of its settings."""
    return [
        ModelOut(
            name=m.name,
            mode=m.mode.replace("_", "-"),
            label=m.label,
            summary=m.summary,
            credits=credits.generation_price(model_key=m.name, model=m),
            parameters=parameters_schema(m.input_schema),
        )
        for m in model_catalogue.model_list()
    ]


# Our webhook tokens are secrets.token_urlsafe(); anything else names no job (and never reaches the database).
WEBHOOK_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


@router.post("/higgsfield/webhook/{token}", auth=None, include_in_schema=False)
def webhook(request, token: str):
    """Higgsfield's delivery of a final status; the unguessable token in the URL names the job."""
    import json

    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise services.GenerationError("The delivery was not JSON.", status=400) from None
    if len(token) > 100 or not WEBHOOK_TOKEN.fullmatch(token):
        raise Http404
    if contains_nul(body):
        raise services.GenerationError("The delivery holds a NUL character.", status=400)
    services.generation_webhook(token=token, body=body)
    return {"ok": True}
