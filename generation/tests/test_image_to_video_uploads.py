"""Image-to-video from an uploaded image: Higgsfield gets an image URL it can fetch."""

import io
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from chats.models import Attachment
from generation.models import Generation
from generation.tests.conftest import photo_options

pytestmark = pytest.mark.django_db(transaction=True)


def image_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def image_option(alice_api, seed_catalogue):
    """An image-to-video option offered for a message with an uploaded image, and the image's bytes."""
    data = image_bytes()
    options, ticket = photo_options(alice_api, data, "make my cat orbit")
    return options[0], data, ticket


def generate(api, option, run_worker, *, until_submitted=False):
    response = api.post("/api/generations", {"option_id": option["id"], "mode": "image-to-video"})
    assert response.status_code == 202, response.content
    generation_id = response.json()["id"]
    if until_submitted:
        sent = (Generation.Status.SUBMITTED, Generation.Status.IN_PROGRESS)
        run_worker(lambda: Generation.objects.get(pk=generation_id).status in sent)
    else:
        run_worker(lambda: Generation.objects.get(pk=generation_id).is_final)
    return Generation.objects.get(pk=generation_id)


def test_private_local_storage_puts_the_image_on_higgsfields_own_storage(
    higgsfield, alice_api, image_option, run_worker
):
    option, data, _ = image_option
    generation = generate(alice_api, option, run_worker)
    assert generation.status == "completed", generation.error
    (name, (content_type, uploaded)) = next(iter(higgsfield.uploads.items()))
    assert (content_type, uploaded) == ("image/png", data)
    sent = higgsfield.submissions[0].body["image_url"]
    assert sent == f"{higgsfield.url}/files/{name}"
    assert httpx.get(sent).content == data  # what Higgsfield would fetch


def test_the_upload_put_carries_every_header_the_url_was_signed_with(higgsfield, alice_api, image_option, run_worker):
    # The fake's presigned URL is signed with Content-Type and x-amz-tagging, as Higgsfield's answer says today,
    # and refuses a PUT without either (403 SignatureDoesNotMatch), as S3 does.
    option, data, _ = image_option
    generation = generate(alice_api, option, run_worker)
    assert generation.status == "completed", generation.error
    puts = [c for c in higgsfield.calls if c.method == "PUT"]
    assert [c.status for c in puts] == [200]
    assert list(higgsfield.uploads.values()) == [("image/png", data)]


def test_an_upload_answer_without_signed_headers_gets_content_type_alone(
    higgsfield, alice_api, image_option, run_worker
):
    higgsfield.upload_headers_signed = False
    option, data, _ = image_option
    generation = generate(alice_api, option, run_worker)
    assert generation.status == "completed", generation.error
    assert list(higgsfield.uploads.values()) == [("image/png", data)]


def test_with_a_public_base_url_higgsfield_fetches_our_url(higgsfield, alice_api, image_option, run_worker, settings):
    settings.PUBLIC_BASE_URL = "https://higgs.example"
    option, _, ticket = image_option
    generate(alice_api, option, run_worker, until_submitted=True)  # webhooks to higgs.example never arrive
    assert higgsfield.uploads == {}
    assert (
        higgsfield.submissions[0].body["image_url"] == "https://higgs.example" + urlsplit(ticket["download_url"]).path
    )


def test_the_local_preview_animates_the_uploaded_image(alice_api, image_option, run_worker):
    option, _, ticket = image_option
    generation = generate(alice_api, option, run_worker)
    assert generation.status == "completed", generation.error
    assert generation.image_url == ticket["download_url"]
    assert Attachment.objects.get(pk=generation.result_id).kind in ("image", "video")
