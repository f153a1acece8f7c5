"""Uploads with S3: presigned PUTs straight to the bucket, checked on first sight, against moto's S3 on loopback."""

import io
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from chats import uploads
from chats.models import Attachment
from chats.tests.s3 import s3_storages

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost:3000"


@pytest.fixture
def bucket(settings, s3_server):
    name = f"higgs-{uuid.uuid4().hex[:12]}"
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    settings.UPLOAD_URL_EXPIRY = 300
    s3_storages(settings, s3_server, name)
    default_storage.connection.meta.client.create_bucket(Bucket=name)
    uploads.bucket_cors_configure()
    return name


def image_bytes(fmt="PNG", size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


def presign(api, data, content_type="image/png", file_name="photo.png"):
    response = api.post(
        "/api/attachments/presign", {"file_name": file_name, "content_type": content_type, "size": len(data)}
    )
    assert response.status_code == 200, response.content
    return response.json()


def browser_put(url, data, content_type):
    return httpx.put(url, content=data, headers={"Content-Type": content_type, "Origin": ORIGIN})


def test_presign_gives_a_put_limited_to_the_declared_type_under_the_users_prefix(alice, alice_api, bucket, s3_server):
    ticket = presign(alice_api, image_bytes())
    url = urlsplit(ticket["upload_url"])
    assert f"{url.scheme}://{url.netloc}" == s3_server
    assert url.path.startswith(f"/{bucket}/attachments/{alice.pk.hex}/{uuid.UUID(ticket['upload_id']).hex}/")
    query = parse_qs(url.query)
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Expires"] == ["300"]
    # Downloads are presigned GETs (the bucket is private by default).
    assert "X-Amz-Signature" in parse_qs(urlsplit(ticket["download_url"]).query)


def test_the_bucket_lets_a_browser_on_a_listed_origin_put(alice_api, bucket):
    ticket = presign(alice_api, image_bytes())
    preflight = httpx.options(
        ticket["upload_url"],
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    refused = httpx.options(
        ticket["upload_url"],
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert refused.status_code == 403


def test_the_bucket_lets_our_own_pages_put_for_the_composer(alice_api, bucket, settings):
    settings.PUBLIC_BASE_URL = "https://higgs.example.com"
    uploads.bucket_cors_configure()
    ticket = presign(alice_api, image_bytes())
    preflight = httpx.options(
        ticket["upload_url"],
        headers={
            "Origin": "https://higgs.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://higgs.example.com"


def test_the_frontends_round_trip_through_s3(alice_api, bucket, seed_catalogue):
    chat = alice_api.post("/api/chats", {"title": None}).json()
    data = image_bytes()
    ticket = presign(alice_api, data)
    put = browser_put(ticket["upload_url"], data, "image/png")
    assert put.status_code == 200
    assert put.headers["access-control-allow-origin"] == ORIGIN

    sent = alice_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "make it orbit", "attachments": [ticket["download_url"]]}
    )
    assert sent.status_code == 201, sent.content
    mine = alice_api.get(f"/api/chats/{chat['id']}/messages").json()["items"][0]
    (attachment,) = mine["attachments"]
    assert attachment["id"] == ticket["upload_id"]
    assert (attachment["mime"], attachment["width"], attachment["height"]) == ("image/png", 64, 48)
    # storage_url is a presigned GET a browser can fetch, served as an image.
    fetched = httpx.get(attachment["storage_url"])
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    listed = alice_api.get(f"/api/attachments/by-chat/{chat['id']}").json()["items"]
    assert [a["id"] for a in listed] == [ticket["upload_id"]]


def test_public_urls_when_the_setting_says_so(alice_api, settings, s3_server, bucket):
    s3_storages(settings, s3_server, bucket, public=True)
    data = image_bytes()
    ticket = presign(alice_api, data)
    assert urlsplit(ticket["download_url"]).query == ""
    assert browser_put(ticket["upload_url"], data, "image/png").status_code == 200
    attachment = alice_api.get(f"/api/attachments/{ticket['upload_id']}").json()
    assert urlsplit(attachment["storage_url"]).query == ""


def test_a_video_is_measured_once_it_is_in_the_bucket(alice_api, bucket):
    from generation.tests.fake_higgsfield import mp4_bytes

    data = mp4_bytes(duration_ms=3000, width=640, height=360)
    ticket = presign(alice_api, data, "video/mp4", "clip.mp4")
    assert browser_put(ticket["upload_url"], data, "video/mp4").status_code == 200
    attachment = alice_api.get(f"/api/attachments/{ticket['upload_id']}").json()
    assert (attachment["kind"], attachment["duration_ms"], attachment["width"], attachment["height"]) == (
        "video",
        3000,
        640,
        360,
    )


def test_a_renamed_executable_in_the_bucket_is_refused_and_deleted(alice_api, bucket, seed_catalogue):
    program = b"\x7fELF" + bytes(300)
    ticket = presign(alice_api, program, "image/png", "cat.png")
    assert browser_put(ticket["upload_url"], program, "image/png").status_code == 200
    chat = alice_api.post("/api/chats", {"title": None}).json()
    response = alice_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "animate", "attachments": [ticket["download_url"]]}
    )
    assert response.status_code == 422
    assert "Linux program" in response.json()["detail"]
    assert not Attachment.objects.exists()
    assert list(default_storage.bucket.objects.all()) == []


def test_a_file_sent_with_another_content_type_is_refused(alice_api, bucket):
    data = image_bytes()
    ticket = presign(alice_api, data)
    # S3 itself refuses this (the type is signed); the fake does not check signatures, so we check too.
    browser_put(ticket["upload_url"], data, "image/jpeg")
    response = alice_api.get(f"/api/attachments/{ticket['upload_id']}")
    assert response.status_code == 415
    assert not Attachment.objects.exists()


def test_an_upload_over_the_limit_is_refused_when_it_arrives(alice_api, bucket, settings):
    data = image_bytes()
    ticket = presign(alice_api, data)
    assert browser_put(ticket["upload_url"], data, "image/png").status_code == 200
    settings.UPLOAD_MAX_BYTES = len(data) - 1
    assert alice_api.get(f"/api/attachments/{ticket['upload_id']}").status_code == 413


def test_another_persons_upload_cannot_be_attached_or_read(alice_api, bob_api, bucket, seed_catalogue):
    data = image_bytes()
    ticket = presign(alice_api, data)
    assert browser_put(ticket["upload_url"], data, "image/png").status_code == 200
    assert bob_api.get(f"/api/attachments/{ticket['upload_id']}").status_code == 404
    chat = bob_api.post("/api/chats", {"title": None}).json()
    response = bob_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "animate", "attachments": [ticket["download_url"]]}
    )
    assert response.status_code == 422
    assert not Attachment.objects.exists()


def test_an_upload_never_made_is_unknown(alice_api, bucket):
    ticket = presign(alice_api, image_bytes())
    assert alice_api.get(f"/api/attachments/{ticket['upload_id']}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_deleting_a_chat_deletes_its_files_from_the_bucket(alice_api, bucket, seed_catalogue):
    data = image_bytes()
    ticket = presign(alice_api, data)
    browser_put(ticket["upload_url"], data, "image/png")
    chat = alice_api.post("/api/chats", {"title": None}).json()
    alice_api.post(f"/api/chats/{chat['id']}/messages", {"text": "orbit", "attachments": [ticket["download_url"]]})
    name = Attachment.objects.get().file.name
    assert default_storage.exists(name)
    alice_api.delete(f"/api/chats/{chat['id']}")
    assert not default_storage.exists(name)


@pytest.mark.django_db(transaction=True)
def test_the_cleanup_removes_bucket_uploads_never_sent(alice_api, bucket):
    data = image_bytes()
    never_checked = presign(alice_api, data)
    browser_put(never_checked["upload_url"], data, "image/png")
    checked = presign(alice_api, data)
    browser_put(checked["upload_url"], data, "image/png")
    alice_api.get(f"/api/attachments/{checked['upload_id']}")
    assert uploads.uploads_cleanup() == {"attachments": 0, "files": 0, "uploads": 0}  # both younger than a day
    later = timezone.now() + timedelta(days=1, minutes=1)
    assert uploads.uploads_cleanup(now=later) == {"attachments": 1, "files": 1, "uploads": 0}
    assert not Attachment.objects.exists()
    assert list(default_storage.bucket.objects.all()) == []


def test_higgsfield_gets_a_fresh_presigned_get_of_an_uploaded_image(alice, alice_api, bucket):
    from types import SimpleNamespace

    from generation.providers import fetchable_url

    data = image_bytes()
    ticket = presign(alice_api, data)
    browser_put(ticket["upload_url"], data, "image/png")
    alice_api.get(f"/api/attachments/{ticket['upload_id']}")
    generation = SimpleNamespace(
        owner=alice, image_url=ticket["download_url"], provider_input={"image_url": ticket["download_url"]}
    )
    url = fetchable_url(generation, ticket["download_url"], client=None)  # no upload to Higgsfield: S3 is fetched
    assert "X-Amz-Signature" in parse_qs(urlsplit(url).query)
    assert httpx.get(url).content == data


def test_the_command_sets_the_bucket_cors_rule(bucket, settings):
    from django.core.management import call_command

    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    call_command("configure_bucket_cors", stdout=io.StringIO())
    rules = default_storage.connection.meta.client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://app.example"]
    assert "PUT" in rules[0]["AllowedMethods"]
