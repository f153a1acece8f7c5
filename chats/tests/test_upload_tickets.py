"""Upload tickets: only the server decides where a file goes, a ticket is used once, and stored uploads are
never served as a script; with S3, the signed length and the check on first use."""

import io
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image

from chats import uploads
from chats.models import Attachment, Upload
from chats.tests.s3 import s3_storages
from higgs_project.settings import DEV_SECRET_KEY

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost:3000"
# The salt that tickets carrying their own storage key were signed with.
KEY_TICKET_SALT = "chats.uploads.ticket"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    return settings.MEDIA_ROOT


@pytest.fixture
def media_served(media_root):
    """/media/ serving from this test's media folder (the view reads MEDIA_ROOT at each request)."""
    return media_root


def png_bytes(size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def gif_that_is_javascript() -> bytes:
    """A GIF that Pillow opens and that a browser also runs as a script: `GIF87a/*…*/=1;alert(…)`."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1), 0).save(buffer, "GIF")
    gif = bytearray(buffer.getvalue())
    gif[6:8] = b"/*"  # the canvas width opens a comment that runs to the end of the image
    return bytes(gif) + b"*/=1;alert(document.domain);//"


def presign(api, data, content_type="image/png", file_name="photo.png", size=None):
    response = api.post(
        "/api/attachments/presign",
        {"file_name": file_name, "content_type": content_type, "size": len(data) if size is None else size},
    )
    assert response.status_code == 200, response.content
    return response.json()


def put(url, data, content_type):
    """The browser's raw PUT: no credentials, the declared Content-Type."""
    return Client().put(urlsplit(url).path, data, content_type=content_type, headers={"Origin": ORIGIN})


def key_ticket(*, owner, key, data, content_type, secret) -> str:
    """A ticket of the kind that named its own storage key, signed with `secret`, as an attacker makes one."""
    ticket = {
        "u": uuid.uuid4().hex,
        "o": owner.pk.hex,
        "k": key,
        "t": content_type,
        "s": len(data),
        "e": int(time.time()) + 600,
    }
    return signing.dumps(ticket, key=secret, salt=KEY_TICKET_SALT, compress=True)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- Only the server decides the path ---


@pytest.fixture
def leaked_key(settings):
    """The site signing with the development key in the repository, as a fresh clone did."""
    settings.SECRET_KEY = DEV_SECRET_KEY
    return DEV_SECRET_KEY


@pytest.mark.parametrize("signed_with", ["the development key", "the current key"])
def test_a_forged_ticket_naming_a_path_stores_nothing_and_is_refused(alice, media_root, settings, signed_with):
    if signed_with == "the development key":
        settings.SECRET_KEY = DEV_SECRET_KEY
    secret = settings.SECRET_KEY
    data = gif_that_is_javascript()
    token = key_ticket(owner=alice, key="pwn/evil.js", data=data, content_type="image/gif", secret=secret)

    response = put(f"/api/uploads/{token}", data, "image/gif")

    assert response.status_code == 403
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert not (media_root / "pwn").exists()
    assert files_under(media_root.parent) == []
    assert not Attachment.objects.exists()
    # A well-formed ticket for an upload we never recorded does nothing either.
    made_up = signing.Signer(key=secret, salt=uploads.SALT).sign(uuid.uuid4().hex)
    assert put(f"/api/uploads/{made_up}", data, "image/gif").status_code == 403
    assert files_under(media_root.parent) == []


@pytest.mark.parametrize(
    "path",
    [
        "../evil.js",
        "../../../../../../tmp/evil.js",
        "{outside}/evil.js",
        "attachments/%2e%2e/%2e%2e/evil.js",
        "attachments/{owner}/%2e%2e%2f%2e%2e%2fevil.js",
        "..%2f..%2fevil.js",
    ],
)
def test_a_traversal_path_cannot_be_chosen(alice, alice_api, media_root, tmp_path, leaked_key, path):
    data = png_bytes()
    path = path.format(outside=tmp_path / "outside", owner=alice.pk.hex)
    token = key_ticket(owner=alice, key=path, data=data, content_type="image/png", secret=leaked_key)
    assert put(f"/api/uploads/{token}", data, "image/png").status_code == 403
    assert files_under(tmp_path) == []

    # Given as the file's name, the path is not used at all.
    ticket = presign(alice_api, data, file_name=path)
    assert put(ticket["upload_url"], data, "image/png").status_code == 200
    upload_id = uuid.UUID(ticket["upload_id"])
    expected = f"attachments/{alice.pk.hex}/{upload_id.hex}/image.png"
    assert Attachment.objects.get(pk=upload_id).file.name == expected
    assert files_under(tmp_path) == [f"media/{expected}"]


def test_a_gif_that_is_javascript_is_stored_under_our_gif_name_and_served_as_a_gif(alice, alice_api, media_served):
    data = gif_that_is_javascript()
    ticket = presign(alice_api, data, "image/gif", file_name="evil.js")
    assert "evil" not in ticket["upload_url"] and "evil" not in ticket["download_url"]

    assert put(ticket["upload_url"], data, "image/gif").status_code == 200

    key = f"attachments/{alice.pk.hex}/{uuid.UUID(ticket['upload_id']).hex}/image.gif"
    assert Attachment.objects.get(pk=ticket["upload_id"]).file.name == key
    assert files_under(media_served) == [key]
    assert urlsplit(ticket["download_url"]).path == f"/media/{key}"
    served = Client().get(urlsplit(ticket["download_url"]).path)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/gif"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == data


def test_the_ticket_names_only_the_upload_and_the_key_is_recorded_by_the_server(alice, alice_api):
    data = png_bytes()
    ticket = presign(alice_api, data, file_name="../../pwn/evil.js")
    token = urlsplit(ticket["upload_url"]).path.removeprefix("/api/uploads/")
    assert signing.Signer(salt=uploads.SALT).unsign(token) == uuid.UUID(ticket["upload_id"]).hex
    upload = Upload.objects.get(pk=ticket["upload_id"])
    assert (upload.owner, upload.mime, upload.size_bytes, upload.used_at) == (alice, "image/png", len(data), None)
    assert upload.key == f"attachments/{alice.pk.hex}/{upload.pk.hex}/image.png"


# --- Used once, and not for ever ---


def test_an_expired_ticket_is_refused(alice_api, media_root):
    data = png_bytes()
    ticket = presign(alice_api, data)
    Upload.objects.filter(pk=ticket["upload_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = put(ticket["upload_url"], data, "image/png")

    assert response.status_code == 403
    assert "expired" in response.json()["detail"]
    assert files_under(media_root) == []
    assert not Attachment.objects.exists()


def test_a_replayed_ticket_is_refused_even_after_its_attachment_is_deleted(
    alice, alice_api, media_root, django_capture_on_commit_callbacks
):
    data = png_bytes()
    ticket = presign(alice_api, data)
    assert put(ticket["upload_url"], data, "image/png").status_code == 200
    assert put(ticket["upload_url"], data, "image/png").status_code == 409

    with django_capture_on_commit_callbacks(execute=True):
        Attachment.objects.get(pk=ticket["upload_id"]).delete()
    assert files_under(media_root) == []

    again = put(ticket["upload_url"], data, "image/png")
    assert again.status_code == 409
    assert "already been used" in again.json()["detail"]
    assert files_under(media_root) == []
    assert not Attachment.objects.exists()
    assert Upload.objects.get(pk=ticket["upload_id"]).used_at is not None
    # Nor does its download URL bring it back.
    chat = alice_api.post("/api/chats", {"title": None}).json()
    sent = alice_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "orbit", "attachments": [ticket["download_url"]]}
    )
    assert sent.status_code == 422
    assert "already been used" in sent.json()["detail"]


def test_the_cleanup_forgets_expired_uploads_and_their_tickets_stay_refused(alice_api, settings):
    data = png_bytes()
    ticket = presign(alice_api, data)
    Upload.objects.filter(pk=ticket["upload_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=settings.UPLOAD_UNATTACHED_SECONDS + 1)
    )
    assert uploads.uploads_cleanup() == {"attachments": 0, "files": 0, "uploads": 1}
    assert put(ticket["upload_url"], data, "image/png").status_code == 403


# --- S3: the signed length, and the check on first use ---


@pytest.fixture
def bucket(settings, s3_server):
    name = f"higgs-{uuid.uuid4().hex[:12]}"
    settings.UPLOAD_URL_EXPIRY = 300
    s3_storages(settings, s3_server, name)
    default_storage.connection.meta.client.create_bucket(Bucket=name)
    return name


def s3_put(url, data, content_type="image/png"):
    return httpx.put(url, content=data, headers={"Content-Type": content_type, "Origin": ORIGIN})


def test_the_presigned_put_signs_the_declared_length_and_type(alice_api, bucket):
    data = png_bytes()
    ticket = presign(alice_api, data)
    signed = parse_qs(urlsplit(ticket["upload_url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"content-length", "content-type"} <= set(signed)
    assert urlsplit(ticket["upload_url"]).path.endswith(f"/{uuid.UUID(ticket['upload_id']).hex}/image.png")


@pytest.mark.parametrize(("sent_bytes", "status", "words"), [(10, 413, "more bytes"), (-10, 400, "not the")])
def test_an_object_of_another_size_than_declared_is_refused_on_first_use(
    alice_api, bucket, seed_catalogue, sent_bytes, status, words
):
    # S3 itself refuses another length (it is signed); moto does not check signatures, so we check too.
    data = png_bytes()
    ticket = presign(alice_api, data, size=len(data) - sent_bytes)
    assert s3_put(ticket["upload_url"], data).status_code == 200

    chat = alice_api.post("/api/chats", {"title": None}).json()
    sent = alice_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "orbit", "attachments": [ticket["download_url"]]}
    )
    assert sent.status_code == 422
    assert words in sent.json()["detail"]
    assert not Attachment.objects.exists()
    assert list(default_storage.bucket.objects.all()) == []  # refused and deleted
    assert Upload.objects.get(pk=ticket["upload_id"]).used_at is None

    assert s3_put(ticket["upload_url"], data).status_code == 200
    assert alice_api.get(f"/api/attachments/{ticket['upload_id']}").status_code == status


def test_an_s3_upload_is_checked_once_and_a_replay_after_its_deletion_is_refused(
    alice_api, bucket, django_capture_on_commit_callbacks
):
    data = png_bytes()
    ticket = presign(alice_api, data)
    assert s3_put(ticket["upload_url"], data).status_code == 200
    first = alice_api.get(f"/api/attachments/{ticket['upload_id']}")
    assert first.status_code == 200
    assert Upload.objects.get(pk=ticket["upload_id"]).used_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        Attachment.objects.get(pk=ticket["upload_id"]).delete()
    assert list(default_storage.bucket.objects.all()) == []
    # The presigned PUT still works at S3 until it expires; the upload it fills is used all the same.
    assert s3_put(ticket["upload_url"], data).status_code == 200

    again = alice_api.get(f"/api/attachments/{ticket['upload_id']}")
    assert again.status_code == 409
    assert "already been used" in again.json()["detail"]
    assert not Attachment.objects.exists()


def test_with_s3_our_own_upload_url_takes_nothing(alice, alice_api, bucket, leaked_key):
    data = gif_that_is_javascript()
    forged = key_ticket(owner=alice, key="pwn/evil.js", data=data, content_type="image/gif", secret=leaked_key)
    assert put(f"/api/uploads/{forged}", data, "image/gif").status_code == 403
    # Nor a ticket naming a real upload: with S3 the bytes go to the bucket, through its signed PUT only.
    ticket = presign(alice_api, data, "image/gif")
    named = signing.Signer(key=leaked_key, salt=uploads.SALT).sign(uuid.UUID(ticket["upload_id"]).hex)
    assert put(f"/api/uploads/{named}", data, "image/gif").status_code == 403
    assert list(default_storage.bucket.objects.all()) == []
    assert not Attachment.objects.exists()


def test_media_serves_only_images_and_videos(media_served, client):
    # Whatever a past bug or an operator put in the media folder is never served as a page or a script.
    (media_served / "pwn").mkdir(parents=True)
    (media_served / "pwn" / "evil.js").write_bytes(b"alert(1)")
    (media_served / "pwn" / "page.html").write_bytes(b"<script src=evil.js></script>")
    (media_served / "pwn" / "logo.svg").write_bytes(b"<svg onload=alert(1)></svg>")
    (media_served / "pwn" / "ok.png").write_bytes(png_bytes())
    for name in ("evil.js", "page.html", "logo.svg"):
        assert client.get(f"/media/pwn/{name}").status_code == 404, name
    response = client.get("/media/pwn/ok.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
