"""Generation jobs as a state machine: every move is a conditional UPDATE from the states it may start from.

    waiting ──slot──> queued ──submit──> submitted ──> in_progress ──> completed | failed | nsfw
       │  ^             │ │                  │               │
       │  └── refused ──┘ │ (capacity)       │               │
       └────────────────> cancelled <────────┘               └──> timed_out (from any active state)

A Higgsfield job waits for one of our account's slots (generation.pool: HIGGSFIELD_CONCURRENCY, counted in the
database), handed out fairly by generation_pool_fill; a preview job starts queued. A move from a state the job is
no longer in changes nothing and reports False, so a duplicate poll, a repeated webhook or a result arriving after
a cancel is harmless.
"""

import hashlib
import json
import logging
import random
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone

from chats.models import Attachment, Option
from chats.selectors import attachment_find_by_url
from higgs_project import outbound
from higgs_project.apikit.rate_limits import RateLimited, rate_wait, wait_words

from . import credits, media, pool, selectors
from .higgsfield import HiggsfieldError, RequestStatus, Submission
from .model_catalogue import model_get, model_names, model_resolve
from .model_schema import (
    IMAGE_TO_VIDEO,
    TEXT_TO_IMAGE,
    ParameterError,
    body_build,
    body_check,
    body_urls,
    body_urls_map,
    image_field,
    image_required,
    legacy_parameters,
    parameters_check,
    parameters_schema,
)
from .models import Generation, GenerationModel, Motion, Style
from .providers import HIGGSFIELD, get_provider, provider_name
from .signals import generation_completed, own_file_find, step_planned

logger = logging.getLogger(__name__)

S = Generation.Status


class GenerationError(Exception):
    """A request that cannot be carried out; the message is for the person. `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


class GenerationRateLimited(RateLimited, GenerationError):
    """More generations in the window than RATE_LIMIT_GENERATIONS allows."""

    def __init__(self, retry_after: int):
        super().__init__(f"You're starting generations quickly. Try again in {wait_words(retry_after)}.", status=429)
        self.retry_after = retry_after


# --- Creating ---


def _dedupe_key(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _time_limit(kind: str) -> timedelta:
    seconds = settings.GENERATION_IMAGE_TIME_LIMIT if kind == TEXT_TO_IMAGE else settings.GENERATION_VIDEO_TIME_LIMIT
    return timedelta(seconds=seconds)


def _option_image_url(option: Option) -> str:
    """The image this option starts from: the picture its request pointed at ("animate it"), or else the image
    the person attached to the message this option answers; "" when none."""
    from chats.models import Message

    if option.source_image_url:
        return option.source_image_url

    user_message = (
        Message.objects.filter(
            chat_id=option.message.chat_id, position__lt=option.message.position, author_type=Message.Author.USER
        )
        .order_by("-position")
        .first()
    )
    if user_message is None:
        return ""
    attachment = user_message.attachments.filter(kind=Attachment.Kind.IMAGE).order_by("created_at").first()
    return attachment.file.url if attachment and attachment.file else ""


def _fit(schema: dict, parameters: dict) -> dict:
    """Of an option's parameters (the recommender's suggestion for its own model), those this model takes as
    they are; the rest are left to the model's defaults."""
    props = parameters_schema(schema)["properties"]
    fitted = {}
    for name, value in (parameters or {}).items():
        if name not in props:
            continue
        try:
            parameters_check({"type": "object", "properties": {name: props[name]}}, {name: value}, label="")
        except ParameterError:
            continue
        fitted[name] = value
    return fitted


def _catalogue_entry(model_class, entry_id, strength) -> dict | None:
    entry = model_class.objects.filter(pk=entry_id).first() if entry_id else None
    if entry is None:
        return None
    found = {"id": str(entry.pk), "name": entry.name, "description": entry.description}
    if strength is not None:
        found["strength"] = strength
    return found


def _strength(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise GenerationError(f"{name} must be a number from 0 to 1; got {value!r}.")
    return float(value)


# Our own files in a URL's path, whatever its host (our media, a bucket, a presigned URL): an upload
# (chats.uploads: attachments/{owner}/{upload id}/{name}) or a result (_complete: results/{owner}/{job}.{ext}).
OUR_FILE_PATH = re.compile(r"/(attachments/[0-9a-f]{32}/[0-9a-f]{32}/[^/]+|results/[0-9a-f-]{36}/[0-9a-f-]{36}\.\w+)$")
IMAGE_URL_REFUSED = "The image must be one of your own uploads or results, or an https URL on a public address"
URL_REFUSED = "{field} must be one of your own uploads or results, or an https URL on a public address"


def _image_url_check(*, owner, url: str, absolute_url, field: str = "") -> None:
    """Refuse a file the person may not hand to a job: only their own upload or result (by our URL, relative
    or absolute), or an https file on a public address (higgs_project.outbound), which Higgsfield fetches.
    `field` names a parameter (end_image_url, audio_url...); without it the refusal speaks of the image."""
    refused = URL_REFUSED.format(field=field) if field else IMAGE_URL_REFUSED
    try:
        parts = urlsplit(url)
    except ValueError:
        raise GenerationError(f"{refused}: this is not a URL.") from None
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    ours = {urlsplit(u).netloc.lower() for u in (absolute_url("/") or "", settings.PUBLIC_BASE_URL, settings.MEDIA_URL)}
    if not host or host in ours or OUR_FILE_PATH.search(unquote(parts.path)):
        if scheme not in ("", "http", "https"):
            raise GenerationError(f"{refused}.")
        if attachment_find_by_url(owner=owner, url=url):
            return
        if any(found for _, found in own_file_find.send(sender=Generation, owner=owner, url=url)):
            return
        raise GenerationError(f"{refused}: this is not one of your files.")
    if scheme != "https":
        raise GenerationError(f"{refused}: this one is not https.")
    try:
        outbound.url_check(url)
    except outbound.OutboundRefused:
        raise GenerationError(f"{refused}: this one's address is not public.") from None


def _parameter_urls_check(*, owner, schema: dict, parameters: dict, absolute_url) -> dict:
    """The parameters with each URL they carry (end_image_url, audio_url, any format uri field) made absolute and
    checked as an image_url is: a person's own file or a public https address, never an internal one."""
    urls = body_urls(schema, parameters)
    if not urls:
        return parameters
    absolute = {url: absolute_url(url) for _, url in urls}
    for field, url in urls:
        _image_url_check(owner=owner, url=absolute[url], absolute_url=absolute_url, field=field)
    return body_urls_map(schema, parameters, lambda url: absolute.get(url, url))


@dataclass(frozen=True)
class GenerationPlan:
    """A request resolved and checked before anything is written or spent: the job it makes, and its dedupe key
    (the same request while a job of it is live is that job, not a second one)."""

    owner: object
    option: Option | None
    kind: str
    model_key: str
    prompt: str
    style: dict | None
    motions: list[dict]
    image_url: str
    parameters: dict
    body: dict
    notes: list[str]
    dedupe_key: str

    def job(self) -> Generation:
        """The new job, unsaved: _job_start saves, charges and queues it."""
        return Generation(
            owner=self.owner,
            option=self.option,
            chat_id=self.option.message.chat_id if self.option else None,
            kind=self.kind,
            model_key=self.model_key,
            prompt=self.prompt,
            style_id=self.style and self.style["id"],
            motion_id=self.motions[0]["id"] if self.motions else None,
            image_url=self.image_url,
            parameters=self.parameters,
            provider=provider_name(),
            provider_input=self.body,
            dedupe_key=self.dedupe_key,
            notes=self.notes,
            webhook_token=secrets.token_urlsafe(32),
            deadline_at=timezone.now() + _time_limit(self.kind),
        )


@dataclass(frozen=True)
class _Asked:
    """What a request asks for once its option (if any) has filled in what it carries."""

    prompt: str
    image_url: str
    style_id: object
    motion_ids: list
    base: dict  # the option's parameters: the recommender's suggestion for its own model


def _model_choose(*, model_key: str, kind: str) -> tuple[GenerationModel, list[str]]:
    """The model the request names (an older name means its stand-in, said in a note); refused for another kind."""
    resolved = model_resolve(name=model_key)
    if resolved is None:
        raise GenerationError(f"Unknown model {model_key!r}. Models: {', '.join(model_names())}.")
    model = resolved.model
    if model.kind != kind:
        raise GenerationError(
            f"{model.label} does not do {kind.replace('_', '-')}; it does {model.kind.replace('_', '-')}."
        )
    return model, [resolved.note] if resolved.note else []


def _asked(*, option, model, kind, prompt, image_url, style_id, motion_id, motion_ids) -> _Asked:
    """The request with what its option carries: the option's style or motion, its prompt unless the person edited
    it, its image when the request sends none, its parameters as a base; the prompt checked."""
    base = {}
    if option is not None:
        prompt = prompt or option.enhanced_prompt
        style_id, motion_id = option.style_id, option.motion_id
        if not image_url and (kind == IMAGE_TO_VIDEO or image_required(model.input_schema) or option.source_image_url):
            image_url = _option_image_url(option)
        base = option.parameters or {}
    prompt = " ".join((prompt or "").split())
    if not prompt:
        raise GenerationError("A generation needs a prompt.")
    if len(prompt) > 5000:
        raise GenerationError("The prompt can have at most 5000 characters.")
    motions = list(motion_ids or ([motion_id] if motion_id else []))
    return _Asked(prompt=prompt, image_url=image_url, style_id=style_id, motion_ids=motions, base=base)


def _image_fit(*, owner, model, kind: str, image_url: str, absolute_url) -> tuple[GenerationModel, str, list[str]]:
    """The model and image the job runs with, and notes on what changed: a reference image goes to a text-to-image
    model's with-image variant when it takes none itself; a job that needs an image is refused without one; the
    image must be the person's own or public; a model that takes no image runs without it."""
    notes = []
    if image_url and kind == TEXT_TO_IMAGE and not image_field(model.input_schema) and model.with_image:
        variant = model_resolve(name=model.with_image)
        if variant is not None and variant.model.kind == kind:
            notes.append(f"With your reference image, {variant.model.label} made it ({model.label} takes none).")
            model = variant.model
    if kind == IMAGE_TO_VIDEO and not image_url:
        raise GenerationError("Image-to-video needs an image: attach one to the message or send image_url.")
    if image_required(model.input_schema) and not image_url:
        raise GenerationError(f"{model.label} needs a reference image: attach one or send image_url.")
    if image_url:
        image_url = absolute_url(image_url)
        _image_url_check(owner=owner, url=image_url, absolute_url=absolute_url)
    if image_url and not image_field(model.input_schema):
        notes.append(f"{model.label} takes no image: the image was left out.")
        image_url = ""
    return model, image_url, notes


def _parameters_fit(*, owner, model, flat: dict, base: dict, parameters, absolute_url) -> tuple[dict, list[str]]:
    """The job's parameters, checked against the model's schema: the option's where this model takes them, the
    contract's flat fields mapped onto the model (notes say what was left out), then the request's own, which must
    all be right; URLs in them made absolute and checked."""
    schema = parameters_schema(model.input_schema)
    try:
        mapped, notes = legacy_parameters(schema, flat, label=model.label)
        checked = parameters_check(
            schema, {**_fit(model.input_schema, base), **mapped, **(parameters or {})}, label=model.label
        )
    except ParameterError as exc:
        raise GenerationError(str(exc)) from None
    return _parameter_urls_check(owner=owner, schema=schema, parameters=checked, absolute_url=absolute_url), notes


def _catalogue_pick(
    *, kind: str, style_id, motion_ids: list, style_strength, motion_strength
) -> tuple[dict | None, list[dict]]:
    """The style (images) or camera motions (videos, at most 2) the job applies, each as the body takes it."""
    style = _catalogue_entry(Style, style_id, style_strength) if kind == TEXT_TO_IMAGE else None
    if len(motion_ids) > 2:
        raise GenerationError("At most 2 camera motions can go together.")
    motions = []
    if kind != TEXT_TO_IMAGE:
        for entry_id in dict.fromkeys(motion_ids):
            motion = _catalogue_entry(Motion, entry_id, motion_strength)
            if motion is None:
                raise GenerationError(f"Unknown motion {entry_id}.")
            motions.append(motion)
    if style_id and kind == TEXT_TO_IMAGE and style is None:
        raise GenerationError(f"Unknown style {style_id}.")
    return style, motions


def _body_make(model, **request) -> tuple[dict, list[str]]:
    """The body the provider gets, checked against the model's schema, and notes on how the style or motion went in."""
    body, applied = body_build(model.input_schema, **request)
    try:
        body_check(model.input_schema, body)
    except ParameterError as exc:
        raise GenerationError(str(exc)) from None
    return body, applied


def generation_plan(
    *,
    owner,
    kind: str,
    model_key: str,
    option: Option | None = None,
    prompt: str | None = None,
    parameters: dict | None = None,
    flat: dict | None = None,
    image_url: str = "",
    style_id=None,
    motion_id=None,
    motion_ids: list | None = None,
    absolute_url=lambda url: url,
) -> GenerationPlan:
    """The job a request makes, resolved and checked; nothing is written or spent. A request that cannot be
    carried out is refused here (GenerationError), before any charge.

    `motion_ids` (at most 2) asks for several camera moves; `motion_id` for one. `parameters` are
    checked strictly against the model's schema (a wrong value or an unknown name is refused); `flat`
    are the contract's flat fields (aspect_ratio, quality, seed, ...), mapped onto the model where it
    has them and otherwise left out with a note. The request's kind and model win over the option's
    where they can: the option's prompt is kept, an impossible combination is refused, and the notes
    say how the style or motion was applied.
    """
    model, notes = _model_choose(model_key=model_key, kind=kind)
    asked = _asked(
        option=option,
        model=model,
        kind=kind,
        prompt=prompt,
        image_url=image_url,
        style_id=style_id,
        motion_id=motion_id,
        motion_ids=motion_ids,
    )
    model, image_url, image_notes = _image_fit(
        owner=owner, model=model, kind=kind, image_url=asked.image_url, absolute_url=absolute_url
    )
    flat = dict(flat or {})
    style_strength = _strength("style_strength", flat.pop("style_strength", None))
    motion_strength = _strength("motion_strength", flat.pop("motion_strength", None))
    checked, flat_notes = _parameters_fit(
        owner=owner, model=model, flat=flat, base=asked.base, parameters=parameters, absolute_url=absolute_url
    )
    style, motions = _catalogue_pick(
        kind=kind,
        style_id=asked.style_id,
        motion_ids=asked.motion_ids,
        style_strength=style_strength,
        motion_strength=motion_strength,
    )
    body, applied = _body_make(
        model, prompt=asked.prompt, parameters=checked, image_url=image_url, style=style, motions=motions
    )
    key = _dedupe_key(
        owner=owner.pk,
        option=option.pk if option else None,
        kind=kind,
        model=model.name,
        parameters=checked,
        prompt=asked.prompt,
        style=style and style["id"],
        motions=[m["id"] for m in motions],
        strengths=[style_strength, motion_strength],
        # Without the query: a presigned URL of the same image differs at every call.
        image=image_url.split("?", 1)[0],
    )
    return GenerationPlan(
        owner=owner,
        option=option,
        kind=kind,
        model_key=model.name,
        prompt=asked.prompt,
        style=style,
        motions=motions,
        image_url=image_url,
        parameters=checked,
        body=body,
        notes=[*notes, *image_notes, *flat_notes, *applied],
        dedupe_key=key,
    )


def generation_request(**request) -> tuple[Generation, bool]:
    """Start a generation (or find the same one already live); returns it and whether it is new.

    The request (generation_plan's arguments) is planned and checked first, so an impossible one is refused before
    anything is spent; then the job is saved, charged and queued (_job_start).
    """
    plan = generation_plan(**request)
    live = _live_twin(plan.dedupe_key)
    if live is not None:
        return live, False
    generation = plan.job()
    saved = _job_start(generation)
    return saved, saved is generation


def _job_again(generation: Generation, **changes) -> Generation:
    """A new, unsaved job with the request of `generation` (a retry, another take), `changes` applied."""
    fields = {
        "owner": generation.owner,
        "option": generation.option,
        "chat": generation.chat,
        "kind": generation.kind,
        "model_key": generation.model_key,
        "prompt": generation.prompt,
        "style_id": generation.style_id,
        "motion_id": generation.motion_id,
        "image_url": generation.image_url,
        "parameters": generation.parameters,
        "provider_input": generation.provider_input,
        "dedupe_key": generation.dedupe_key,
        "notes": generation.notes,
    }
    return Generation(
        **{**fields, **changes},
        provider=provider_name(),
        webhook_token=secrets.token_urlsafe(32),
        deadline_at=timezone.now() + _time_limit(generation.kind),
    )


def generation_retry(*, generation: Generation, rate_limited: bool = True) -> Generation:
    """A new attempt from a failed, nsfw, cancelled or timed-out job, with the same request.

    A retry is a new paid attempt: it is charged like a new job (the one before was refunded when it
    ended without a result). Staff retrying in bulk from admin are not held to the person's rate limit.
    """
    if generation.status not in Generation.RETRYABLE:
        raise GenerationError(f"A {generation.status.replace('_', ' ')} generation cannot be retried.", status=409)
    retry = _job_again(generation, retry_of=generation)
    return _job_start(retry, rate_limited=rate_limited)


# Another take asked for again within this many seconds is the same click said twice: it stays one job.
TAKE_TWIN_SECONDS = 5
TAKES_PER_RESULT = 100


def _take_seed(model_key: str) -> int | None:
    """A new seed within the range the model takes, or None for a model that takes none."""
    model = model_get(model_key)
    prop = parameters_schema(model.input_schema)["properties"].get("seed") if model else None
    if prop is None:
        return None
    low, high = max(1, prop.get("minimum", 1)), prop.get("maximum", 2**31 - 1)
    return low + secrets.randbelow(high - low + 1)


def generation_another_take(*, generation: Generation) -> tuple[Generation, bool]:
    """A new job with the request of a finished one and a new seed (where the model takes one), charged as new;
    returns it and whether it is new.

    The same request is otherwise one job (generation_request hands back a completed twin), so each take
    carries its number in its dedupe key: take n of this result. A take asked for again within
    TAKE_TWIN_SECONDS of the last one is a double click, answered with that job and not charged twice.
    """
    if generation.status != S.COMPLETED:
        raise GenerationError("Only a finished result can have another take.", status=409)
    keys = [_dedupe_key(take_of=generation.dedupe_key, take=n) for n in range(1, TAKES_PER_RESULT + 1)]
    made = {g.dedupe_key: g for g in selectors.generations_live(dedupe_keys=keys)}
    recent = timezone.now() - timedelta(seconds=TAKE_TWIN_SECONDS)
    key = next((k for k in keys if k not in made or made[k].created_at > recent), None)
    if key is None:
        raise GenerationError(f"This result has had {TAKES_PER_RESULT} takes: start from one of them.")
    if key in made:
        return made[key], False
    parameters, body = dict(generation.parameters), dict(generation.provider_input)
    notes = [note for note in generation.notes if not note.startswith("Another take")]
    seed = _take_seed(generation.model_key)
    if seed is None:
        notes.append("Another take: this model takes no seed, so it may come out much like the one before.")
    else:
        parameters["seed"] = body["seed"] = seed
        notes.append(f"Another take, with a new seed ({seed}).")
    take = _job_again(generation, parameters=parameters, provider_input=body, dedupe_key=key, notes=notes)
    saved = _job_start(take)
    return saved, saved is take


def _live_twin(dedupe_key: str) -> Generation | None:
    return selectors.generations_live(dedupe_keys=[dedupe_key]).first()


def _generation_rate_check(*, owner_id) -> None:
    wait = rate_wait(
        setting="RATE_LIMIT_GENERATIONS",
        recent=Generation.objects.filter(owner_id=owner_id),
    )
    if wait:
        raise GenerationRateLimited(wait)


WAITING_STAGE = "In line"


def _slot_wait_limit() -> timedelta:
    return timedelta(seconds=settings.GENERATION_SLOT_WAIT_LIMIT)


def _model_offered(model_key: str):
    """The job's model, refused when staff have switched it off (or it is gone): nothing runs on it any more,
    whether the job is new, a retry or another take."""
    model = model_get(model_key)
    if model is None or not model.enabled:
        label = model.label if model is not None else model_key
        raise GenerationError(f"{label} is switched off for now, so nothing can run on it. Pick another model.")
    return model


def _job_start(generation: Generation, *, rate_limited: bool = True) -> Generation:
    """Save a new job, charge it today's price and queue it; if the same request is already live, that job instead.

    The person's credit account stays locked from the checks to the commit, so their requests go one
    at a time: the balance cannot be overspent and the rate limit is exact. Anything refused or
    failing here rolls back together: no job, no charge.
    """
    try:
        with transaction.atomic():
            account = credits.credit_account_lock(user_id=generation.owner_id)
            # A double click waited on the lock above while its twin was made: answer with that job, unpaid.
            twin = _live_twin(generation.dedupe_key)
            if twin is not None:
                return twin
            if rate_limited:
                _generation_rate_check(owner_id=generation.owner_id)
            model = _model_offered(generation.model_key)
            price = credits.generation_price(model_key=generation.model_key, model=model)
            if account.balance < price:
                raise GenerationError(
                    f"Not enough credits: this needs {price}, you have {account.balance}.", status=402
                )
            if generation.provider == HIGGSFIELD:
                # Sent when one of our account's slots is free (generation_pool_fill, once this commits).
                generation.status, generation.stage = S.WAITING, WAITING_STAGE
                generation.deadline_at = timezone.now() + _slot_wait_limit()
                transaction.on_commit(generation_pool_fill)
            else:
                generation.status, generation.stage = S.QUEUED, "Waiting for a worker"
            generation.save(force_insert=True)
            credits.credits_charge(account=account, generation=generation, price=price)
            if generation.status == S.QUEUED:
                _enqueue_submit(generation)
    except IntegrityError:
        # Two tabs, one click each: the other request made it first.
        live = _live_twin(generation.dedupe_key)
        if live is None:
            raise
        return live
    return generation


# --- Moving ---


def _move(generation: Generation, sources, target: str, **fields) -> bool:
    """Move the job to `target` if it is still in one of `sources`; True when this call moved it."""
    now = timezone.now()
    fields.setdefault("updated_at", now)
    if target in Generation.FINAL:
        fields.setdefault("finished_at", now)
        fields.setdefault("next_check_at", None)
        fields.setdefault("queue_position", None)
    with transaction.atomic():
        moved = Generation.objects.filter(pk=generation.pk, status__in=list(sources)).update(status=target, **fields)
        if moved and target in Generation.RETRYABLE:
            # Ended without a result: the charge goes back. Only the one call that made this move gets here.
            credits.credits_refund(generation=generation, outcome=target)
        if moved and target in Generation.FINAL and generation.provider == HIGGSFIELD:
            # Its slot (or its place in line) is free for the next job.
            transaction.on_commit(generation_pool_fill)
    if moved:
        generation.refresh_from_db()
    return bool(moved)


def generation_fail(*, generation: Generation, error: str, target: str = S.FAILED) -> bool:
    return _move(generation, Generation.ACTIVE, target, error=error, stage="")


def generation_cancel(*, generation: Generation) -> Generation:
    """Cancel while the job is still waiting: in our line, ours to send, or in Higgsfield's queue (cancelled
    upstream too)."""
    if generation.status in (S.WAITING, S.QUEUED) and _move(
        generation, [S.WAITING, S.QUEUED], S.CANCELLED, stage="", error="Cancelled."
    ):
        return generation
    generation.refresh_from_db()
    if generation.status == S.SUBMITTED:
        try:
            cancelled = get_provider(generation.provider).cancel(generation)
        except HiggsfieldError as exc:
            raise GenerationError(f"It could not be cancelled: {exc}", status=502) from None
        if cancelled:
            _move(generation, [S.SUBMITTED, S.IN_PROGRESS], S.CANCELLED, stage="", error="Cancelled.")
            return generation
        raise GenerationError("It has already started and can no longer be cancelled.", status=409)
    if generation.status == S.IN_PROGRESS:
        raise GenerationError("It has already started and can no longer be cancelled.", status=409)
    raise GenerationError(f"It has already ended ({generation.status.replace('_', ' ')}).", status=409)


# --- Higgsfield's slots (generation.pool) ---


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_stage(position: int) -> str:
    return "Next in line" if position == 1 else f"{_ordinal(position)} in line"


def generation_pool_fill() -> int:
    """Hand our free Higgsfield slots to waiting jobs, round-robin by person (generation.pool.fair_order), and
    write every waiting job's place in line; returns how many jobs were started.

    Run whenever a slot may have freed (a job ended or was taken in by a webhook, a job was made, the back-off
    ended) and by the watchdog. The pool's row is locked throughout, so two processes never hand out one slot
    twice; a job cancelled meanwhile is skipped by its conditional move.
    """
    now = timezone.now()
    started = []
    with transaction.atomic():
        row = pool.pool_lock()
        limit = pool.pool_limit(row, now)
        holding = Counter(
            Generation.objects.filter(
                provider=HIGGSFIELD, status__in=Generation.HOLDING, provider_done_at__isnull=True
            ).values_list("owner_id", flat=True)
        )
        waiting = list(
            Generation.objects.filter(provider=HIGGSFIELD, status=S.WAITING)
            .order_by("created_at", "pk")
            .values_list("pk", "owner_id", "queue_position", "kind")
        )
        if not waiting:
            return 0
        owners = {owner for _, owner, _, _ in waiting}
        served = dict(
            Generation.objects.filter(provider=HIGGSFIELD, owner_id__in=owners, slot_at__gte=now - timedelta(days=1))
            .values("owner_id")
            .annotate(last=Max("slot_at"))
            .values_list("owner_id", "last")
        )
        order = pool.fair_order([(pk, owner) for pk, owner, _, _ in waiting], holding, served)
        free = 0 if pool.pool_paused(row, now) else max(0, limit - sum(holding.values()))
        kinds = {pk: kind for pk, _, _, kind in waiting}
        for pk in order[:free]:
            token = secrets.token_hex(8)
            moved = Generation.objects.filter(pk=pk, status=S.WAITING).update(
                status=S.QUEUED,
                stage="Sending to Higgsfield",
                queue_position=None,
                slot_at=now,
                track_token=token,
                deadline_at=now + _time_limit(kinds[pk]),
                updated_at=now,
            )
            if moved:
                started.append((str(pk), token))
        places = {pk: place for place, pk in enumerate(order[free:], 1)}
        changed = [pk for pk, _, position, _ in waiting if pk in places and position != places[pk]]
        if changed:
            # One statement for every place that moved; a job that left the line meanwhile is not touched.
            Generation.objects.filter(pk__in=changed, status=S.WAITING).update(
                queue_position=Case(*[When(pk=pk, then=Value(places[pk])) for pk in changed]),
                stage=Case(*[When(pk=pk, then=Value(waiting_stage(places[pk]))) for pk in changed]),
                updated_at=now,
            )
        for generation_id, token in started:
            transaction.on_commit(
                lambda generation_id=generation_id, token=token: step_planned.send(
                    sender=Generation, step="submit", args=(generation_id, token), run_after=None
                )
            )
    return len(started)


def _back_in_line(generation: Generation, exc: HiggsfieldError) -> None:
    """A capacity refusal: the job waits for a slot again (never failed, charged once), the pool backs off."""
    accepted = (
        Generation.objects.filter(
            provider=HIGGSFIELD, status__in=[S.SUBMITTED, S.IN_PROGRESS], provider_done_at__isnull=True
        )
        .exclude(pk=generation.pk)
        .count()
    )
    moved = _move(
        generation,
        [S.QUEUED],
        S.WAITING,
        stage=WAITING_STAGE,
        sending_since=None,
        # Its time limit starts again with its next slot; meanwhile it may wait as long as a new job.
        deadline_at=max(generation.created_at + _slot_wait_limit(), timezone.now() + timedelta(minutes=1)),
    )
    if not moved:
        return
    delay = pool.pool_refused(
        generation_id=generation.pk, status=exc.status, retry_after=exc.retry_after, accepted_elsewhere=accepted
    )
    run_after = timezone.now() + timedelta(seconds=delay)
    step_planned.send(sender=Generation, step="fill", args=(), run_after=run_after)
    generation_pool_fill()


# --- Work done by the worker (generation.tasks) ---


def _enqueue_submit(generation: Generation, delay: float = 0) -> None:
    """Plan the submission; a submit step planned before is now stale and will stop."""
    token = secrets.token_hex(8)
    Generation.objects.filter(pk=generation.pk).update(track_token=token, updated_at=timezone.now())
    generation.track_token = token
    run_after = timezone.now() + timedelta(seconds=delay) if delay else None
    generation_id = str(generation.pk)
    transaction.on_commit(
        lambda: step_planned.send(sender=Generation, step="submit", args=(generation_id, token), run_after=run_after)
    )


def _schedule_track(generation: Generation, delay: float) -> None:
    """Plan the next tracking step; any step planned before is now stale and will stop."""
    token = secrets.token_hex(8)
    due = timezone.now() + timedelta(seconds=delay)
    Generation.objects.filter(pk=generation.pk).update(track_token=token, next_check_at=due)
    generation.track_token, generation.next_check_at = token, due
    generation_id = str(generation.pk)
    transaction.on_commit(
        lambda: step_planned.send(sender=Generation, step="track", args=(generation_id, token), run_after=due)
    )


def generation_poll_delay(generation: Generation) -> float:
    """Webhooks first: with PUBLIC_BASE_URL a slow safety poll; otherwise polls from GENERATION_POLL_FIRST_SECONDS
    growing to GENERATION_POLL_MAX_SECONDS, with jitter, as Higgsfield's polling guide asks."""
    if generation.provider != "preview" and settings.PUBLIC_BASE_URL:
        return settings.GENERATION_WEBHOOK_POLL_SECONDS
    delay = settings.GENERATION_POLL_FIRST_SECONDS * (1.5 ** min(generation.polls, 20))
    return min(delay, settings.GENERATION_POLL_MAX_SECONDS) * random.uniform(0.85, 1.15)


# Transient send failures: the same request again after a back-off from GENERATION_POLL_FIRST_SECONDS, doubling
# to this (seconds), with jitter.
RESEND_MAX_SECONDS = 30.0


def _submission(generation: Generation, provider) -> Submission:
    """The job's submission: fixed and kept before its first send, then the same bytes on every resend."""
    if generation.sent_body or generation.sent_url:
        return Submission(url=generation.sent_url, body=generation.sent_body.encode())
    submission = provider.prepare(generation)
    Generation.objects.filter(pk=generation.pk).update(sent_url=submission.url, sent_body=submission.body.decode())
    generation.sent_url, generation.sent_body = submission.url, submission.body.decode()
    return submission


def generation_submit_step(*, generation_id, token: str = "") -> None:
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return
    if generation.status == S.CANCELLED and generation.track_token == token:
        _cancel_unknown_send(generation)
        return
    if generation.status != S.QUEUED:
        return
    if timezone.now() >= generation.deadline_at:
        generation_time_out(generation=generation)
        return
    # Claim the submission: of two steps holding the same plan, one sends; a stale plan never does.
    claimed = Generation.objects.filter(pk=generation.pk, status=S.QUEUED, track_token=token).update(
        track_token=secrets.token_hex(8),
        attempts=F("attempts") + 1,
        stage=f"Sending to {'Higgsfield' if generation.provider == HIGGSFIELD else 'the provider'}",
        sending_since=timezone.now(),
        updated_at=timezone.now(),
    )
    if not claimed:
        return
    generation.refresh_from_db()
    if not generation.sent_body and not generation.sent_url:
        # Never sent: it runs only on a model that is offered now (staff may have switched it off while it waited).
        try:
            _model_offered(generation.model_key)
        except GenerationError as exc:
            generation_fail(generation=generation, error=f"{exc} Your credits were refunded.")
            return
    provider = get_provider(generation.provider)
    try:
        request_id = provider.submit(generation, _submission(generation, provider))
    except HiggsfieldError as exc:
        _submit_failed(generation, exc)
        return
    pool.pool_accepted()
    with transaction.atomic():
        moved = _move(
            generation,
            [S.QUEUED],
            S.SUBMITTED,
            provider_request_id=request_id,
            submitted_at=timezone.now(),
            sending_since=None,
            stage="Waiting in Higgsfield's queue" if generation.provider == HIGGSFIELD else "Waiting in the queue",
        )
        if moved:
            _schedule_track(generation, generation_poll_delay(generation))
    if not moved:
        # Cancelled while we were submitting: take the job back upstream too.
        generation.provider_request_id = request_id
        try:
            provider.cancel(generation)
        except HiggsfieldError:
            logger.warning("Could not cancel upstream request of cancelled generation %s", generation.pk)


def _submit_failed(generation: Generation, exc: HiggsfieldError) -> None:
    if exc.busy:
        _back_in_line(generation, exc)
        return
    if exc.permanent:
        if exc.status == 422 and "idempotency" in str(exc).lower():
            # A resend differed from the first send under the same key: our bug, never a reason for a new key.
            logger.error(
                "Generation %s: Higgsfield refused a resend under the same Idempotency-Key as a different request "
                "(%s); the job is failed, not sent under a new key.",
                generation.pk,
                exc,
            )
        generation_fail(generation=generation, error=str(exc))
        return
    # Not taken in, or not known: the same request again later, under the same key (never a second generation).
    first = settings.GENERATION_POLL_FIRST_SECONDS
    delay = min(first * 2 ** (generation.attempts - 1), RESEND_MAX_SECONDS) * random.uniform(0.8, 1.2)
    logger.info(
        "Generation %s: send %d got no answer we can use (%s); sending again", generation.pk, generation.attempts, exc
    )
    with transaction.atomic():
        updated = Generation.objects.filter(pk=generation.pk, status=S.QUEUED).update(
            stage="Sending to Higgsfield again: no answer yet" if exc.maybe_sent else f"Retrying: {exc}",
            sending_since=None,
        )
        if updated:
            _enqueue_submit(generation, delay=delay)


def _cancel_unknown_send(generation: Generation) -> None:
    """A job cancelled while a send of it had no answer: that request may run at Higgsfield. One more send under
    the same key learns its id without making another, and it is cancelled there too."""
    if not generation.sent_body or generation.provider_request_id or generation.provider != HIGGSFIELD:
        return
    provider = get_provider(generation.provider)
    try:
        generation.provider_request_id = provider.submit(generation, _submission(generation, provider))
        provider.cancel(generation)
    except HiggsfieldError as exc:
        logger.info("Generation %s: cancelled; its earlier send could not be traced (%s)", generation.pk, exc)
        return
    Generation.objects.filter(pk=generation.pk).update(provider_request_id=generation.provider_request_id)


def _time_limit_message(generation: Generation) -> str:
    if generation.status == S.WAITING:
        minutes = settings.GENERATION_SLOT_WAIT_LIMIT / 60
        return (
            f"It waited longer than {minutes:g} minutes for a free Higgsfield slot, so it was stopped. "
            "Your credits were refunded."
        )
    seconds = _time_limit(generation.kind).total_seconds()
    limit = f"{seconds / 60:g}-minute" if seconds >= 120 else f"{seconds:g}-second"
    what = "images" if generation.kind == TEXT_TO_IMAGE else "videos"
    return f"It took longer than the {limit} limit for {what}, so it was stopped."


def generation_track_step(*, generation_id, token: str) -> None:
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.is_final or generation.track_token != token:
        return
    if timezone.now() >= generation.deadline_at:
        generation_time_out(generation=generation)
        return
    Generation.objects.filter(pk=generation.pk).update(polls=F("polls") + 1)
    generation.polls += 1
    try:
        status = get_provider(generation.provider).status(generation)
        generation_apply_status(generation=generation, status=status)
    except HiggsfieldError as exc:
        if exc.permanent:
            generation_fail(generation=generation, error=str(exc))
            return
        logger.info("Generation %s: not this time (%s); checking again later", generation.pk, exc)
    generation.refresh_from_db()
    if not generation.is_final:
        with transaction.atomic():
            _schedule_track(generation, generation_poll_delay(generation))


def generation_complete_step(*, generation_id, result_url: str) -> None:
    """Copy in a result that a webhook announced; a poll will try again if this fails for a passing reason."""
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.is_final:
        return
    try:
        _complete(generation=generation, status=RequestStatus(status="completed", result_url=result_url))
    except HiggsfieldError as exc:
        logger.info("Generation %s: result not copied yet (%s); tracking will retry", generation.pk, exc)
        with transaction.atomic():
            _schedule_track(generation, generation_poll_delay(generation))


def generation_time_out(*, generation: Generation) -> None:
    if generation.status == S.SUBMITTED:
        try:
            get_provider(generation.provider).cancel(generation)
        except HiggsfieldError:
            pass
    generation_fail(generation=generation, error=_time_limit_message(generation), target=S.TIMED_OUT)


def generation_apply_status(*, generation: Generation, status: RequestStatus) -> bool:
    """Apply what the provider says (a poll or a webhook); True when it changed the job."""
    if status.status == "queued":
        return False
    if status.status == "in_progress":
        return _move(generation, [S.SUBMITTED], S.IN_PROGRESS, started_at=timezone.now(), stage="Generating")
    if status.status == "failed":
        return generation_fail(generation=generation, error=status.error or "The provider could not make it.")
    if status.status == "nsfw":
        return generation_fail(
            generation=generation, error="The provider flagged the result as unsafe and withheld it.", target=S.NSFW
        )
    if status.status == "canceled":
        return _move(generation, Generation.ACTIVE, S.CANCELLED, stage="", error="Cancelled at the provider.")
    return _complete(generation=generation, status=status)


def _complete(*, generation: Generation, status: RequestStatus) -> bool:
    if generation.is_final:
        return False
    try:
        data = get_provider(generation.provider).fetch(generation, status)
        info = media.probe(data)
    except HiggsfieldError as exc:
        if exc.permanent:
            return generation_fail(generation=generation, error=str(exc))
        raise
    except media.MediaError as exc:
        # probe's words may quote the answer's first bytes (a hex dump, a box name, a document type): a result URL
        # comes from outside, so none of the answer goes into the job's error or the log.
        logger.info("Generation %s: the result was not a usable file (%s)", generation.pk, type(exc).__name__)
        return generation_fail(
            generation=generation, error="The result was not an image or video we accept, so it was not kept."
        )
    name = default_storage.save(f"results/{generation.owner_id}/{generation.pk}.{info.extension}", ContentFile(data))
    with transaction.atomic():
        attachment = Attachment.objects.create(
            owner_id=generation.owner_id,
            chat_id=generation.chat_id,
            message_id=generation.option.message_id if generation.option_id else None,
            option_id=generation.option_id,
            size_bytes=len(data),
            file=name,
            **info.attachment_fields(),
        )
        moved = _move(generation, Generation.ACTIVE, S.COMPLETED, result=attachment, stage="", error="")
        if moved and generation.option_id:
            generation_completed.send(sender=Generation, generation=generation, attachment=attachment)
        if not moved:
            # Cancelled, timed out or completed by a twin delivery meanwhile: ours is not needed.
            attachment.delete()
    return moved


def generation_webhook(*, token: str, body) -> bool:
    """A delivery to /api/higgsfield/webhook/{token}; repeated deliveries change nothing."""
    from .higgsfield import parse_status

    generation = Generation.objects.filter(webhook_token=token).first()
    if generation is None:
        raise GenerationError("Unknown webhook.", status=404)
    # The delivery must name the job's request (flat body and envelope alike carry it at the top).
    request_id = body.get("request_id") if isinstance(body, dict) else None
    if not generation.provider_request_id and not generation.is_final:
        # A quick job's delivery can overtake our record of its submission: the sender is asked to deliver
        # again (any non-2xx is retried), and the worker's poll covers a sender that never does.
        raise GenerationError("The job is still being submitted; deliver again shortly.", status=409)
    if request_id != generation.provider_request_id:
        raise GenerationError("The delivery does not match this job.", status=400)
    if generation.is_final:
        return False
    try:
        status = parse_status(body)
    except HiggsfieldError as exc:
        raise GenerationError(str(exc), status=400) from None
    if status.status == "completed":
        # Higgsfield no longer counts it against our account: its slot goes to the next job now, while the worker
        # copies the result (the worker's job, not the webhook request's).
        if generation.provider == HIGGSFIELD:
            Generation.objects.filter(pk=generation.pk, provider_done_at__isnull=True).update(
                provider_done_at=timezone.now()
            )
            transaction.on_commit(generation_pool_fill)
        generation_id, url = str(generation.pk), status.result_url
        transaction.on_commit(
            lambda: step_planned.send(sender=Generation, step="complete", args=(generation_id, url), run_after=None)
        )
        return True
    return generation_apply_status(generation=generation, status=status)


def generations_watchdog() -> dict:
    """Put dropped jobs back on track: run by the worker every GENERATION_WATCHDOG_SECONDS.

    A worker killed mid-step leaves a job whose next check never comes; the watchdog plans a
    new one (the old step, if it ever wakes, holds a stale token and stops). Jobs past their
    time limit end as timed out. Jobs whose sending stopped are sent again; free Higgsfield slots are handed out.
    """
    now = timezone.now()
    grace = timedelta(seconds=max(settings.GENERATION_POLL_MAX_SECONDS, settings.GENERATION_WATCHDOG_SECONDS) * 2)
    counts = {"timed_out": 0, "rescheduled": 0, "resubmitted": 0}
    for generation in Generation.objects.filter(status__in=Generation.ACTIVE, deadline_at__lte=now):
        generation_time_out(generation=generation)
        counts["timed_out"] += 1
    overdue = Generation.objects.filter(status__in=[S.SUBMITTED, S.IN_PROGRESS], next_check_at__lt=now - grace)
    for generation in overdue:
        with transaction.atomic():
            _schedule_track(generation, 0)
        counts["rescheduled"] += 1
    # A submission in flight may take the provider's whole timeout (an upload, then the request). A job still
    # marked as sending long after that lost its worker mid-send, and one never sent lost its plan: both are sent
    # (again) under their Idempotency-Key, so a send that did arrive is answered with its request, not made twice.
    in_flight = timedelta(seconds=settings.HIGGSFIELD_TIMEOUT * 3)
    stuck = Generation.objects.filter(status=S.QUEUED, updated_at__lt=now - grace - in_flight).exclude(
        sending_since__gte=now - grace - in_flight
    )
    for generation in stuck:
        with transaction.atomic():
            Generation.objects.filter(pk=generation.pk).update(updated_at=now, sending_since=None)
            _enqueue_submit(generation)
        counts["resubmitted"] += 1
    counts["started"] = generation_pool_fill()
    return counts
