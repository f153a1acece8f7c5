"""Uploads to local storage: presign, the raw PUT the external frontend sends, every refusal, and ownership."""

import io
import os
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image

from chats import services, uploads
from chats.models import Attachment
from generation.tests.fake_higgsfield import mp4_bytes

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost:3000"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    return tmp_path


def image_bytes(fmt="PNG", size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, fmt)
    return buffer.getvalue()


def presign(api, data, content_type="image/png", file_name="photo.png", size=None):
    return api.post(
        "/api/attachments/presign",
        {"file_name": file_name, "content_type": content_type, "size": len(data) if size is None else size},
    )


def put(url, data, content_type, **headers):
    """The browser's PUT: no credentials, the declared Content-Type, from the frontend's origin."""
    return Client().put(urlsplit(url).path, data, content_type=content_type, headers={"Origin": ORIGIN, **headers})


def upload(api, data, content_type="image/png", file_name="photo.png"):
    ticket = presign(api, data, content_type, file_name).json()
    response = put(ticket["upload_url"], data, content_type)
    assert response.status_code == 200, response.content
    return ticket, response.json()


# --- The external frontend's flow ---


def test_the_frontends_round_trip_presign_put_send_and_see_it(alice, alice_api, seed_catalogue):
    chat = alice_api.post("/api/chats", {"title": None}).json()
    data = image_bytes()
    response = presign(alice_api, data)
    assert response.status_code == 200
    ticket = response.json()
    assert {"upload_url", "download_url", "upload_id"} <= set(ticket)
    assert ticket["upload_url"].startswith("http://testserver/api/uploads/")
    assert ticket["download_url"].startswith(f"http://testserver/media/attachments/{alice.pk.hex}/")

    put_answer = put(ticket["upload_url"], data, "image/png")
    assert put_answer.status_code == 200
    assert put_answer["Access-Control-Allow-Origin"] == ORIGIN
    assert put_answer.json()["width"] == 64

    sent = alice_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "make it orbit", "attachments": [ticket["download_url"]]}
    )
    assert sent.status_code == 201
    messages = alice_api.get(f"/api/chats/{chat['id']}/messages").json()["items"]
    mine = messages[0]
    assert mine["author_type"] == "user"
    (attachment,) = mine["attachments"]
    assert attachment["id"] == ticket["upload_id"]
    assert attachment["storage_url"] == ticket["download_url"]
    assert (attachment["kind"], attachment["mime"], attachment["width"], attachment["height"]) == (
        "image",
        "image/png",
        64,
        48,
    )
    assert attachment["size_bytes"] == len(data)
    # The download URL is the stored file's own URL, and the file holds what was PUT.
    stored = Attachment.objects.get(pk=ticket["upload_id"]).file
    assert urlsplit(ticket["download_url"]).path == stored.url
    with stored.open("rb") as handle:
        assert handle.read() == data
    # An uploaded image leads to image-to-video options.
    options = alice_api.get(f"/api/messages/{messages[1]['id']}/options").json()
    assert {o["tool_type"] for o in options} == {"image_to_video"}
    listed = alice_api.get(f"/api/attachments/by-chat/{chat['id']}").json()["items"]
    assert [a["id"] for a in listed] == [ticket["upload_id"]]


def test_the_upload_url_answers_a_browsers_preflight_for_put_with_content_type(alice_api):
    ticket = presign(alice_api, image_bytes()).json()
    response = Client().options(
        urlsplit(ticket["upload_url"]).path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "PUT" in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"].lower()


def test_an_origin_not_listed_gets_no_cors_headers(alice_api):
    ticket = presign(alice_api, image_bytes()).json()
    response = Client().options(
        urlsplit(ticket["upload_url"]).path,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in response


def test_a_video_is_measured_from_its_bytes(alice_api):
    _, attachment = upload(alice_api, mp4_bytes(duration_ms=4200, width=320, height=240), "video/mp4", "clip.mp4")
    assert (attachment["kind"], attachment["mime"], attachment["duration_ms"]) == ("video", "video/mp4", 4200)
    assert (attachment["width"], attachment["height"]) == (320, 240)


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_every_image_type_is_accepted(alice_api, fmt, mime):
    _, attachment = upload(alice_api, image_bytes(fmt), mime, "pic")
    assert attachment["mime"] == mime


def test_an_mp4_declared_as_quicktime_is_kept_as_what_it_is(alice_api):
    _, attachment = upload(alice_api, mp4_bytes(), "video/quicktime", "clip.mov")
    assert attachment["mime"] == "video/mp4"


# --- Refusals ---


def test_a_second_put_to_the_same_url_is_refused(alice_api):
    data = image_bytes()
    ticket, _ = upload(alice_api, data)
    again = put(ticket["upload_url"], data, "image/png")
    assert again.status_code == 409
    assert again["Access-Control-Allow-Origin"] == ORIGIN
    assert Attachment.objects.count() == 1


def test_of_two_puts_racing_on_one_url_only_the_first_to_finish_is_kept(alice_api, media_root):
    data, twin = image_bytes(size=(64, 48)), image_bytes(size=(128, 24))  # as many bytes, other pixels
    ticket = presign(alice_api, data).json()
    token = urlsplit(ticket["upload_url"]).path.rsplit("/", 1)[1]

    class TwinFirst(io.BytesIO):
        """A slow client: while it sends, a twin PUT of the same URL starts and finishes."""

        def read(self, size=-1):
            if self.tell() == 0:
                assert put(ticket["upload_url"], twin, "image/png").status_code == 200
            return super().read(size)

    with pytest.raises(uploads.UploadError) as refused:
        uploads.upload_receive(token=token, content_type="image/png", content_length=len(data), stream=TwinFirst(data))
    assert refused.value.status == 409
    attachment = Attachment.objects.get()
    assert (attachment.width, attachment.height) == (128, 24)
    with attachment.file.open("rb") as handle:
        assert handle.read() == twin
    assert sum(p.is_file() for p in media_root.rglob("*")) == 1


def test_a_wrong_content_type_header_is_refused(alice_api):
    data = image_bytes()
    ticket = presign(alice_api, data).json()
    response = put(ticket["upload_url"], data, "image/jpeg")
    assert response.status_code == 415
    assert "image/png" in response.json()["detail"]
    assert not Attachment.objects.exists()


def test_more_bytes_than_declared_are_refused(alice_api):
    data = image_bytes()
    ticket = presign(alice_api, data, size=len(data) - 1).json()
    assert put(ticket["upload_url"], data, "image/png").status_code == 413
    assert not Attachment.objects.exists()


def test_more_bytes_than_declared_are_refused_when_the_length_header_lies(alice_api):
    data = image_bytes()
    ticket = presign(alice_api, data, size=len(data) - 1).json()
    token = urlsplit(ticket["upload_url"]).path.rsplit("/", 1)[1]
    with pytest.raises(uploads.UploadError) as refused:
        uploads.upload_receive(token=token, content_type="image/png", content_length=None, stream=io.BytesIO(data))
    assert refused.value.status == 413


def test_fewer_bytes_than_declared_are_refused(alice_api):
    data = image_bytes()
    ticket = presign(alice_api, data, size=len(data) + 10).json()
    assert put(ticket["upload_url"], data, "image/png").status_code == 400


def test_a_renamed_executable_is_refused_by_its_bytes(alice_api, media_root):
    program = b"MZ\x90\x00" + bytes(200)
    ticket = presign(alice_api, program, "image/png", "holiday.png").json()
    response = put(ticket["upload_url"], program, "image/png")
    assert response.status_code == 415
    assert "Windows program" in response.json()["detail"]
    assert not Attachment.objects.exists()
    assert not any(p.is_file() for p in media_root.rglob("*"))


def test_an_image_declared_as_another_type_is_refused(alice_api):
    data = image_bytes("PNG")
    ticket = presign(alice_api, data, "image/jpeg", "photo.jpg").json()
    response = put(ticket["upload_url"], data, "image/jpeg")
    assert response.status_code == 415
    assert "image/png" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/x-msdownload", "image/svg+xml", "text/html", "video/x-matroska", ""]
)
def test_presign_refuses_types_we_do_not_keep(alice_api, content_type):
    response = presign(alice_api, b"x" * 10, content_type)
    assert response.status_code == 422
    assert "cannot be uploaded" in response.json()["detail"]


def test_presign_refuses_a_file_over_the_size_limit(alice_api, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    response = presign(alice_api, b"", size=1001)
    assert response.status_code == 413
    assert presign(alice_api, b"", size=1000).status_code == 200


def test_the_default_size_limit_is_100_mb():
    from django.conf import settings

    assert settings.UPLOAD_MAX_BYTES == 100 * 1024 * 1024


def test_presign_refuses_an_empty_file(alice_api):
    assert presign(alice_api, b"").status_code == 422


def test_an_expired_upload_url_is_refused(alice_api, settings):
    settings.UPLOAD_URL_EXPIRY = 1
    data = image_bytes()
    ticket = presign(alice_api, data).json()
    time.sleep(2.1)
    response = put(ticket["upload_url"], data, "image/png")
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_a_tampered_upload_url_is_refused(alice_api):
    data = image_bytes()
    ticket = presign(alice_api, data).json()
    response = put(ticket["upload_url"][:-3] + "AAA", data, "image/png")
    assert response.status_code == 403


def test_presign_needs_credentials(anon_api):
    assert presign(anon_api, image_bytes()).status_code == 401


# --- Names ---


@pytest.mark.parametrize(
    "given",
    [
        "photo.png",
        "../../etc/passwd",
        "..\\..\\windows\\system32\\evil.exe",
        "bad\x1b[31mname\u202egnp.exe",
        "...",
        "",
        "my holiday (1).JPG",
        "été à Paris.png",
        "a" * 300 + ".png",
        "evil.js",
        "page.html",
    ],
)
def test_the_name_given_never_reaches_storage(alice, alice_api, given):
    ticket = presign(alice_api, image_bytes(), file_name=given).json()
    upload_id = ticket["upload_id"].replace("-", "")
    assert ticket["download_url"] == f"http://testserver/media/attachments/{alice.pk.hex}/{upload_id}/image.png"


def test_the_same_name_twice_never_collides(alice_api):
    data = image_bytes()
    first, _ = upload(alice_api, data, file_name="same.png")
    second, _ = upload(alice_api, data, file_name="same.png")
    assert first["download_url"] != second["download_url"]
    assert Attachment.objects.count() == 2
    assert all(default_storage.exists(a.file.name) for a in Attachment.objects.all())


def test_a_path_traversal_name_stays_inside_the_users_folder(alice, alice_api, media_root):
    _, attachment = upload(alice_api, image_bytes(), file_name="../../../../tmp/owned.png")
    stored = Attachment.objects.get(pk=attachment["id"]).file.name
    assert stored.startswith(f"attachments/{alice.pk.hex}/") and ".." not in stored
    assert (media_root / stored).is_file()


# --- Ownership ---


def test_another_persons_upload_cannot_be_attached(alice_api, bob_api, seed_catalogue):
    ticket, _ = upload(alice_api, image_bytes())
    chat = bob_api.post("/api/chats", {"title": "mine"}).json()
    response = bob_api.post(
        f"/api/chats/{chat['id']}/messages", {"text": "animate", "attachments": [ticket["download_url"]]}
    )
    assert response.status_code == 422
    assert Attachment.objects.get().message_id is None


def test_another_persons_upload_cannot_be_read_through_the_api(alice_api, bob_api):
    ticket, _ = upload(alice_api, image_bytes())
    assert bob_api.get(f"/api/attachments/{ticket['upload_id']}").status_code == 404
    mine = alice_api.get(f"/api/attachments/{ticket['upload_id']}")
    assert mine.status_code == 200
    assert mine.json()["storage_url"] == ticket["download_url"]


def test_another_persons_chat_attachments_are_404(alice_api, bob_api):
    chat = alice_api.post("/api/chats", {"title": "mine"}).json()
    assert bob_api.get(f"/api/attachments/by-chat/{chat['id']}").status_code == 404


# --- Deleting and clearing ---


@pytest.mark.django_db(transaction=True)
def test_deleting_a_chat_deletes_its_uploaded_files(alice, alice_api, seed_catalogue):
    chat = alice_api.post("/api/chats", {"title": None}).json()
    ticket, _ = upload(alice_api, image_bytes())
    alice_api.post(f"/api/chats/{chat['id']}/messages", {"text": "orbit", "attachments": [ticket["download_url"]]})
    name = Attachment.objects.get().file.name
    assert default_storage.exists(name)
    assert alice_api.delete(f"/api/chats/{chat['id']}").status_code == 200
    assert not default_storage.exists(name)


@pytest.mark.django_db(transaction=True)
def test_the_cleanup_removes_uploads_never_attached_after_a_day(alice, alice_api, media_root, seed_catalogue):
    chat = services.chat_create(owner=alice, title="kept")
    sent, _ = upload(alice_api, image_bytes(), file_name="sent.png")
    services.message_post_begin(chat=chat, text="orbit", attachment_urls=[sent["download_url"]])
    stale, _ = upload(alice_api, image_bytes(), file_name="stale.png")
    fresh, _ = upload(alice_api, image_bytes(), file_name="fresh.png")
    Attachment.objects.filter(pk__in=[sent["upload_id"], stale["upload_id"]]).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    # A file whose PUT never finished making a row (a crash between the two): old, and no row.
    orphan = media_root / f"attachments/{alice.pk.hex}/{'0' * 32}/orphan.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(image_bytes())
    old = time.time() - 2 * 86400
    os.utime(orphan, (old, old))
    stale_name = Attachment.objects.get(pk=stale["upload_id"]).file.name

    assert uploads.uploads_cleanup() == {"attachments": 1, "files": 1, "uploads": 0}
    assert set(Attachment.objects.values_list("pk", flat=True).iterator()) == {
        Attachment.objects.get(pk=sent["upload_id"]).pk,
        Attachment.objects.get(pk=fresh["upload_id"]).pk,
    }
    assert not default_storage.exists(stale_name)
    assert not orphan.exists()


def test_the_cleanup_task_runs_through_the_tasks_api(settings):
    from chats.tasks import uploads_cleanup

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    result = uploads_cleanup.enqueue()
    assert result.return_value == {"attachments": 0, "files": 0, "uploads": 0}


def test_the_worker_runs_the_cleanup_at_most_hourly():
    from generation.management.commands.run_worker import _uploads_cleanup_due

    assert _uploads_cleanup_due(None, 10.0)
    assert not _uploads_cleanup_due(10.0, 10.0 + 3599)
    assert _uploads_cleanup_due(10.0, 10.0 + 3600)
