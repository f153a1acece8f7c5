"""Who may call what: every route of the project, as the owner, another person, an anonymous visitor and staff.

The objects belong to alice (the owner); bob is another person; staff is an operator (staff and superuser)
who reaches other people's objects through the admin only: the API and the pages treat staff like anyone
else, so another person's object is a 404 there too. The routes are read from the URL resolver (and the
methods of each API route from the API itself), so a route added without a row here fails
`test_every_route_is_in_the_matrix`, and so does a row whose route is gone.
"""

import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import AsyncClient, Client
from django.urls import URLResolver, get_resolver
from PIL import Image

from chats import replies, uploads
from chats import services as chat_services
from chats.models import Attachment, Chat, Message, Option
from chats.services import api_token_create
from generation import services as generation_services
from generation.models import Generation

pytestmark = pytest.mark.django_db

ROLES = ("owner", "other", "anon", "staff")
LOGIN = "login"  # a redirect to the log-in page (pages)
ADMIN_LOGIN = "admin login"  # a redirect to the admin's log-in page


@dataclass(frozen=True)
class Row:
    """One route and method: the URL for the owner's objects, and the status each role gets."""

    method: str
    route: str  # the resolver's pattern, as `test_every_route_is_in_the_matrix` lists it
    url: str  # formatted with the owner's objects (see `world`)
    owner: int | str
    other: int | str
    anon: int | str
    staff: int | str
    body: dict | None = None  # JSON for the API, form data for pages
    upload: bool = False  # send a PNG's raw bytes with Content-Type image/png, as a browser PUTs an upload
    # What must not change when a role other than the owner is refused: a function of the objects.
    keep: object = None

    @property
    def id(self) -> str:
        return f"{self.method} /{self.route}"

    def expected(self, role: str):
        return getattr(self, role)


def _chat_state(w):
    chat = Chat.objects.filter(pk=w.chat.pk).first()
    return chat and (chat.title, chat.messages.count())


def _reply_state(w):
    return Message.objects.get(pk=w.reply.pk).status, Message.objects.filter(chat=w.chat).count()


def _generation_states(w):
    return list(Generation.objects.filter(owner=w.alice).order_by("pk").values_list("pk", "status"))


def _downloaded(w):
    return Generation.objects.get(pk=w.done.pk).downloaded_at


def _taste_reset_at(w):
    from recommender.models import TasteReset

    return list(TasteReset.objects.filter(owner=w.alice).values_list("reset_at", flat=True))


def _api(method, route, url, owner, other=404, anon=401, staff=None, **kwargs):
    return Row(method, "api/" + route, "/api/" + url, owner, other, anon, other if staff is None else staff, **kwargs)


def _page(method, route, url, owner, other=404, anon=LOGIN, staff=None, **kwargs):
    return Row(method, route, "/" + url, owner, other, anon, other if staff is None else staff, **kwargs)


def _public(method, route, url, status, **kwargs):
    return Row(method, route, url, status, status, status, status, **kwargs)


TEXT = {"text": "a neon city in the rain"}

# method, route (the resolver's pattern), URL for the owner's objects, then the status of: owner, other, anon, staff
API = [
    _public("GET", "api/health", "/api/health", 200),
    _public("GET", "api/health/ready", "/api/health/ready", 200),
    _public("GET", "api/openapi.json", "/api/openapi.json", 200),
    _public("GET", "api/docs", "/api/docs", 200),
    _public("GET", "api/", "/api/", 404),
    _public("GET", "api/higgsfield/text2image/styles", "/api/higgsfield/text2image/styles", 200),
    _public("GET", "api/higgsfield/models", "/api/higgsfield/models", 200),
    _public("GET", "api/higgsfield/image2video/motions", "/api/higgsfield/image2video/motions", 200),
    _public("GET", "api/higgsfield/motions", "/api/higgsfield/motions", 200),
    _api("GET", "me", "me", 200, other=200),
    # Each person's own taste: another person reaches theirs, never the owner's.
    _api("GET", "me/taste", "me/taste", 200, other=200),
    _api("DELETE", "me/taste", "me/taste", 204, other=204, keep=_taste_reset_at),
    _api("POST", "chats", "chats", 201, other=201, body={"title": "Mine"}),
    _api("GET", "chats", "chats", 200, other=200),
    _api("GET", "chats/<chat_id>", "chats/{chat}", 200),
    _api("PATCH", "chats/<chat_id>", "chats/{chat}", 200, body={"title": "Taken"}, keep=_chat_state),
    _api("DELETE", "chats/<chat_id>", "chats/{chat}", 200, keep=_chat_state),
    _api("GET", "chats/<chat_id>/messages", "chats/{chat}/messages", 200),
    _api("POST", "chats/<chat_id>/messages", "chats/{chat}/messages", 201, body=TEXT, keep=_chat_state),
    _api("POST", "messages/<message_id>/retry", "messages/{reply}/retry", 200, keep=_reply_state),
    _api("GET", "messages/<message_id>/options", "messages/{reply}/options", 200),
    _api("GET", "attachments/by-chat/<chat_id>", "attachments/by-chat/{chat}", 200),
    _api("GET", "attachments/<upload_id>", "attachments/{attachment}", 200),
    _api(
        "POST",
        "attachments/presign",
        "attachments/presign",
        200,
        other=200,
        body={"file_name": "a.png", "content_type": "image/png", "size": 100},
    ),
    # The signed ticket in the URL is the credential: whoever holds it may upload, once.
    _public("PUT", "api/uploads/<ticket>", "{upload_url}", 200, upload=True),
    _api(
        "POST",
        "higgsfield/generate",
        "higgsfield/generate",
        200,
        body={"option_id": "{option}", "mode": "text-to-image"},
        keep=_generation_states,
    ),
    _api("POST", "generations", "generations", 202, body={"option_id": "{option}"}, keep=_generation_states),
    _api("GET", "generations", "generations", 200, other=200),
    _api("GET", "generations/<generation_id>", "generations/{generation}", 200),
    _api("POST", "generations/<generation_id>/cancel", "generations/{generation}/cancel", 200, keep=_generation_states),
    _api("POST", "generations/<generation_id>/retry", "generations/{failed}/retry", 202, keep=_generation_states),
    # Higgsfield's deliveries carry the job's unguessable token instead of credentials.
    _public(
        "POST",
        "api/higgsfield/webhook/<token>",
        "/api/higgsfield/webhook/{webhook}",
        200,
        body={"status": "in_progress", "request_id": "matrix-request"},
    ),
]

PAGES = [
    _page("GET", "", "", 302, other=200),  # the owner is taken to their latest chat
    _page("GET", "chats/new/", "chats/new/", 200, other=200),
    _page("POST", "chats/start/", "chats/start/", 302, other=302, body=TEXT),
    _page("GET", "chats/<uuid:chat_id>/", "chats/{chat}/", 200),
    _page("GET", "chats/<uuid:chat_id>/rename/", "chats/{chat}/rename/", 200),
    _page("POST", "chats/<uuid:chat_id>/rename/", "chats/{chat}/rename/", 302, body={"title": "T"}, keep=_chat_state),
    _page("GET", "chats/<uuid:chat_id>/delete/", "chats/{chat}/delete/", 200),
    _page("POST", "chats/<uuid:chat_id>/delete/", "chats/{chat}/delete/", 302, keep=_chat_state),
    _page("POST", "chats/<uuid:chat_id>/messages/", "chats/{chat}/messages/", 302, body=TEXT, keep=_chat_state),
    _page("GET", "messages/<uuid:message_id>/stream/", "messages/{reply}/stream/", 200),
    _page("POST", "messages/<uuid:message_id>/retry/", "messages/{reply}/retry/", 302, keep=_reply_state),
    # Stopping a reply that has ended changes nothing, for anyone; editing the last message (its reply's options
    # have results, so it is sent as a new message) adds a turn for the owner only.
    _page("POST", "messages/<uuid:message_id>/stop/", "messages/{reply}/stop/", 302, keep=_reply_state),
    _page("POST", "messages/<uuid:message_id>/edit/", "messages/{asked}/edit/", 302, body=TEXT, keep=_chat_state),
    _page("GET", "chats/search/", "chats/search/?q=neon", 200, other=200),
    _page("POST", "options/<uuid:option_id>/generate/", "options/{option}/generate/", 302, keep=_generation_states),
    _page("GET", "options/<uuid:option_id>/controls/", "options/{option}/controls/?model=flux-kontext", 200),
    _page("GET", "generations/<uuid:generation_id>/", "generations/{generation}/", 200),
    _page(
        "POST",
        "generations/<uuid:generation_id>/cancel/",
        "generations/{generation}/cancel/",
        200,
        keep=_generation_states,
    ),
    _page(
        "POST", "generations/<uuid:generation_id>/retry/", "generations/{failed}/retry/", 200, keep=_generation_states
    ),
    _page("POST", "generations/<uuid:generation_id>/animate/", "generations/{done}/animate/", 302, keep=_chat_state),
    _page("POST", "generations/<uuid:generation_id>/take/", "generations/{done}/take/", 302, keep=_generation_states),
    _page("GET", "generations/<uuid:generation_id>/download/", "generations/{done}/download/", 200, keep=_downloaded),
    _page("GET", "gallery/", "gallery/", 200, other=200),
    _page("GET", "taste/", "taste/", 200, other=200),
    _page("POST", "taste/reset/", "taste/reset/", 302, other=302, keep=_taste_reset_at),
    # Signed-in people are sent home from the sign-up and log-in pages.
    _page("GET", "accounts/signup/", "accounts/signup/", 302, other=302, anon=200),
    _page(
        "POST",
        "accounts/signup/",
        "accounts/signup/",
        302,
        other=302,
        anon=302,
        body={"username": "carol", "password1": "a long pass phrase 9", "password2": "a long pass phrase 9"},
    ),
    _page("GET", "accounts/login/", "accounts/login/", 302, other=302, anon=200),
    _page("POST", "accounts/login/", "accounts/login/", 302, other=302, anon=200, body={"username": "x"}),
    _page("POST", "accounts/logout/", "accounts/logout/", 302, other=302, anon=302),
    _page("GET", "accounts/password/", "accounts/password/", 200, other=200),
    # Media are public by their unguessable path (as S3 URLs are); static files likewise.
    _public("GET", "^media/(?P<path>.*)$", "{media_url}", 200),
    _public("GET", "static", "/static/ninja/swagger-ui-bundle.js", 200),
]


def _admin(method, route, url, staff, **kwargs):
    return Row(method, "admin/" + route, "/admin/" + url, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, staff, **kwargs)


ADMIN_SITE = [
    _admin("GET", "", "", 200),
    Row("GET", "admin/login/", "/admin/login/", 200, 200, 200, 302),  # staff is sent on to the index
    Row("POST", "admin/logout/", "/admin/logout/", 302, 302, 302, 302),  # logged out (if in) and sent on
    _admin("GET", "password_change/", "password_change/", 200),
    _admin("GET", "password_change/done/", "password_change/done/", 200),
    _admin("GET", "autocomplete/", "autocomplete/", 403),  # without its parameters
    _admin("GET", "jsi18n/", "jsi18n/", 200),
    _admin("GET", "r/<path:content_type_id>/<path:object_id>/", "r/{chat_type}/{chat}/", 404),  # no public page
    _admin("GET", "^(?P<app_label>auth|django_tasks_database|chats|generation)/$", "chats/", 200),
    _admin("GET", "(?P<url>.*)$", "no-such-page/", 404),
    _admin("GET", "chats/user/<id>/password/", "chats/user/{alice_id}/password/", 200),
]

# Each registered model's admin: the object to open, and the staff statuses where they are not 200
# (a redirect from the bare object URL to its change page; adding or deleting turned off).
ADMIN_OBJECTS = {
    "auth.group": "group",
    "django_tasks_database.dbtaskresult": "task",
    "chats.user": "alice_id",
    "chats.apitoken": "token",
    "chats.chat": "chat",
    "chats.message": "reply",
    "chats.option": "option",
    "chats.attachment": "attachment",
    "generation.style": "style",
    "generation.generationmodel": "model",
    "generation.cataloguesync": "sync",
    "generation.motion": "motion",
    "generation.generation": "generation",
    "generation.creditaccount": "credit_account",
    "generation.creditentry": "credit_entry",
    "generation.submissionpool": "pool",
}
ADMIN_STAFF = {
    "django_tasks_database.dbtaskresult add/": 403,
    "django_tasks_database.dbtaskresult <path:object_id>/delete/": 403,
    "generation.generation add/": 403,
    "generation.generationmodel add/": 403,
    "generation.cataloguesync add/": 403,
    "generation.creditaccount <path:object_id>/delete/": 403,
    "generation.creditentry add/": 403,
    "generation.creditentry <path:object_id>/delete/": 403,
    "generation.submissionpool add/": 403,
    "generation.submissionpool <path:object_id>/delete/": 403,
}


def _admin_model_rows():
    rows = []
    for model in admin.site._registry:
        label = model._meta.label_lower
        base = label.replace(".", "/") + "/"
        key = ADMIN_OBJECTS.get(label, "missing")
        for suffix, url, status in [
            ("", "", 200),
            ("add/", "add/", 200),
            ("<path:object_id>/history/", f"{{{key}}}/history/", 200),
            ("<path:object_id>/delete/", f"{{{key}}}/delete/", 200),
            ("<path:object_id>/change/", f"{{{key}}}/change/", 200),
            ("<path:object_id>/", f"{{{key}}}/", 302),
        ]:
            rows.append(_admin("GET", base + suffix, base + url, ADMIN_STAFF.get(f"{label} {suffix}", status)))
    return rows


MATRIX = API + PAGES + ADMIN_SITE + _admin_model_rows()


# --- The owner's objects ---


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    alice: object
    bob: object
    staff: object
    chat: Chat
    reply: Message
    option: Option
    attachment: Attachment
    generation: Generation
    failed: Generation
    done: Generation
    png: bytes
    media_url: str
    extra: dict = field(default_factory=dict)

    def upload_url(self) -> str:
        """A fresh ticket: each is good for one upload, and the file stays on disk when the test rolls back."""
        presigned = uploads.upload_presign(
            owner=self.alice, file_name="a.png", content_type="image/png", size=len(self.png)
        )
        return presigned.upload_url

    def format(self, text: str) -> str:
        from django.contrib.contenttypes.models import ContentType

        values = {
            "chat": self.chat.pk,
            "reply": self.reply.pk,
            "option": self.option.pk,
            "attachment": self.attachment.pk,
            "generation": self.generation.pk,
            "failed": self.failed.pk,
            "done": self.done.pk,
            "webhook": self.generation.webhook_token,
            "upload_url": self.upload_url() if "{upload_url}" in text else "",
            "media_url": self.media_url,
            "alice_id": self.alice.pk,
            "chat_type": ContentType.objects.get_for_model(Chat).pk,
            **self.extra,
        }
        return text.format(**values)


@pytest.fixture(autouse=True)
def quick(settings, tmp_path):
    """Cheap passwords, media in a temp folder, no demo user, the preview provider, no rate limits."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.API_ANONYMOUS_USER = ""
    settings.HIGGSFIELD_KEY_ID = settings.HIGGSFIELD_KEY_SECRET = ""
    settings.RATE_LIMIT_MESSAGES = settings.RATE_LIMIT_GENERATIONS = ""


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        username="operator", password="correct horse battery", is_staff=True, is_superuser=True
    )


@pytest.fixture
def media_file(settings):
    """A file where /media/ serves from."""
    folder = Path(settings.MEDIA_ROOT) / "matrix" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "result.png").write_bytes(_png())
    yield f"/media/matrix/{folder.name}/result.png"
    (folder / "result.png").unlink()
    folder.rmdir()


@pytest.fixture
def world(alice, bob, staff, media_file):
    from django.contrib.auth.models import Group
    from django_tasks_db.models import DBTaskResult

    from chats.tasks import uploads_cleanup
    from generation.models import (
        CatalogueSync,
        CreditAccount,
        CreditEntry,
        GenerationModel,
        Motion,
        Style,
        SubmissionPool,
    )

    chat = chat_services.chat_create(owner=alice, title="Private")
    _asked, reply = chat_services.message_post_begin(chat=chat, text="a neon city in the rain")
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.FAILED, error="The recommender failed.")
    reply.refresh_from_db()
    style = Style.objects.create(id=uuid.uuid4(), name="Noir", description="Black and white.")
    motion = Motion.objects.create(id=uuid.uuid4(), name="Orbit", description="Around the subject.")
    option = Option.objects.create(
        message=reply, kind="text_to_image", model_key="soul", enhanced_prompt="A neon city.", reason="It fits."
    )
    attachment = Attachment.objects.create(
        owner=alice,
        chat=chat,
        option=option,
        kind="image",
        mime="image/png",
        size_bytes=67,
        file=media_file.removeprefix("/media/"),
    )

    def request(**parameters):
        generation, _ = generation_services.generation_request(
            owner=alice, option=option, kind="text_to_image", model_key="soul", parameters=parameters
        )
        return generation

    failed = request(num_images=1)
    Generation.objects.filter(pk=failed.pk).update(status=Generation.Status.FAILED, error="It failed.")
    done = request(num_images=2)
    Generation.objects.filter(pk=done.pk).update(status=Generation.Status.COMPLETED, result=attachment)
    generation = request()
    # As if Higgsfield had taken it: a delivery must name the job's request id.
    Generation.objects.filter(pk=generation.pk).update(provider_request_id="matrix-request")
    generation.refresh_from_db()
    token, _ = api_token_create(user=alice, name="admin matrix")
    uploads_cleanup.enqueue()
    extra = {
        "group": Group.objects.create(name="operators").pk,
        "token": token.pk,
        "style": style.pk,
        "model": GenerationModel.objects.get(name="soul").pk,
        "sync": CatalogueSync.objects.create(kind="models", summary="unchanged: 48").pk,
        "motion": motion.pk,
        "credit_account": CreditAccount.objects.get(user=alice).pk,
        "credit_entry": CreditEntry.objects.filter(account__user=alice).first().pk,
        "task": DBTaskResult.objects.get().pk,
        "asked": _asked.pk,
        "pool": SubmissionPool.objects.get_or_create(name="higgsfield")[0].pk,
    }
    return World(
        alice, bob, staff, chat, reply, option, attachment, generation, failed, done, _png(), media_file, extra,
    )  # fmt: skip


# --- Calling a route as a role ---


def _api_client(user):
    from conftest import ApiClient

    if user is None:
        return ApiClient()
    _, raw = api_token_create(user=user, name="matrix")
    return ApiClient(token=raw)


def _call_api(row: Row, w: World, user):
    client = _api_client(user)
    url = w.format(row.url)
    body = {k: w.format(v) if isinstance(v, str) else v for k, v in (row.body or {}).items()}
    if row.method == "GET":
        return client.get(url)
    if row.method == "DELETE":
        return client.delete(url)
    if row.method == "PATCH":
        return client.patch(url, body)
    return client.post(url, body)


def _call_page(row: Row, w: World, user):
    """Pages go through the async client, so that a reply a page starts finishes inside the test."""

    async def run():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        url = w.format(row.url)
        if row.method == "GET":
            response = await client.get(url)
        else:
            response = await client.post(url, row.body or {})
        if response.streaming and response.is_async:
            async for _chunk in response.streaming_content:
                pass
        elif response.streaming:
            response.close()
        await replies.replies_wait()
        return response

    return async_to_sync(run)()


def _call(row: Row, w: World, role: str):
    user = {"owner": w.alice, "other": w.bob, "anon": None, "staff": w.staff}[role]
    if row.upload:
        # The raw bytes, with no credentials but the ticket in the URL.
        return Client().generic(row.method, w.format(row.url), w.png, content_type="image/png")
    if row.route.startswith("api/"):
        return _call_api(row, w, user)
    return _call_page(row, w, user)


def _fault(response, expected) -> str:
    """What is wrong with the answer ("" when it is the expected one)."""
    status, location = response.status_code, response.get("Location", "")
    if expected in (LOGIN, ADMIN_LOGIN):
        login = "/accounts/login/?next=" if expected == LOGIN else "/admin/login/?next="
        if status == 302 and location.startswith(login):
            return ""
        return f"{status} {location}, not a redirect to {login}"
    if status != expected:
        return f"{status}, not {expected}: {response.content[:200]!r}"
    return ""


@pytest.mark.parametrize("row", MATRIX, ids=lambda row: row.id)
def test_each_role_gets_the_status_in_the_matrix(row, world):
    """Each role calls in a savepoint of its own, rolled back after, so that no role sees another's writes."""
    faults = []
    for role in ROLES:
        with transaction.atomic():
            before = row.keep(world) if row.keep else None
            fault = _fault(_call(row, world, role), row.expected(role))
            if not fault and row.keep and role != "owner" and row.keep(world) != before:
                fault = "the refused call changed the owner's objects"
            transaction.set_rollback(True)
        if fault:
            faults.append(f"{role}: {fault}")
    assert not faults, f"{row.id}: " + "; ".join(faults)


# --- Every route is in the matrix ---


def _patterns(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _api_methods(route: str) -> list[str]:
    """The methods of one API route, as the API itself says (405 with `Allow` to a method nobody uses)."""
    url = "/" + route.replace("<", "").replace(">", "")
    response = Client().generic("PROPFIND", url)
    if response.status_code != 405:
        return ["GET"]  # the schema, the docs and the root answer any method alike
    return sorted(m.strip() for m in response["Allow"].split(","))


def test_every_route_is_in_the_matrix(world):
    served = set()
    for route in dict.fromkeys(route for route, _pattern in _patterns()):
        if route.startswith("api/") and route != "api/":
            served |= {f"{method} /{route}" for method in _api_methods(route)}
        else:
            served.add(route)
    in_matrix = {row.id if row.route.startswith("api/") and row.route != "api/" else row.route for row in MATRIX}
    in_matrix -= {"static"}  # served by the static files middleware, not a URL pattern
    assert sorted(served - in_matrix) == [], "routes served that the matrix leaves out"
    assert sorted(in_matrix - served) == [], "rows of the matrix for routes no longer served"
    assert set(ADMIN_OBJECTS) == {m._meta.label_lower for m in admin.site._registry}
