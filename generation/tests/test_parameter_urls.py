"""Every URL a person can put in `parameters` (end_image_url, audio_url, any format uri field) passes the check an
image_url does: their own file or a public https address; and numbers JSON cannot carry are refused plainly."""

import io
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from PIL import Image

from generation.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)

TEXT_TO_VIDEO = {"mode": "text-to-video", "model_name": "wan-25-t2v", "prompt": "a drummer on a rooftop at dusk"}


def png(colour=(30, 160, 90)):
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "PNG")
    return buffer.getvalue()


def upload(api, data) -> str:
    """An upload through the API's presign and PUT; its download URL (relative, on our host)."""
    ticket = api.post(
        "/api/attachments/presign", {"file_name": "frame.png", "content_type": "image/png", "size": len(data)}
    ).json()
    assert Client().put(urlsplit(ticket["upload_url"]).path, data, content_type="image/png").status_code == 200
    api.get(f"/api/attachments/{ticket['upload_id']}")
    return ticket["download_url"]


def post_raw(api, payload: str):
    """A body as a client may write it: Python's parser takes NaN and Infinity, JSON does not have them."""
    return api.generic(
        "POST",
        "/api/generations",
        payload,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "https://10.1.2.3/song.wav",
            "audio_url must be one of your own uploads or results, or an https URL on a "
            "public address: this one's address is not public.",
        ),
        ("https://127.0.0.1:8000/media/x.wav", "this one's address is not public"),
        ("http://93.184.216.34/song.wav", "this one is not https"),
        ("file:///etc/passwd", "audio_url must be"),
    ],
)
def test_an_audio_url_that_is_internal_or_not_https_is_refused(alice_api, seed_catalogue, url, words):
    response = alice_api.post("/api/generations", {**TEXT_TO_VIDEO, "parameters": {"audio_url": url}})
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert not Generation.objects.exists()


def test_a_public_https_audio_url_is_taken_as_it_is(alice_api, seed_catalogue):
    response = alice_api.post(
        "/api/generations", {**TEXT_TO_VIDEO, "parameters": {"audio_url": "https://93.184.216.34/song.wav"}}
    )
    assert response.status_code == 202, response.content
    assert response.json()["parameters"]["audio_url"] == "https://93.184.216.34/song.wav"


def test_an_end_frame_of_another_persons_upload_is_refused(alice_api, bob_api, seed_catalogue):
    start_frame = upload(alice_api, png())
    bobs = upload(bob_api, png((200, 10, 10)))
    response = alice_api.post(
        "/api/generations",
        {
            "mode": "image-to-video",
            "model_name": "dop",
            "prompt": "the camera pushes in",
            "image_url": start_frame,
            "parameters": {"end_image_url": bobs},
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "end_image_url must be one of your own uploads or results, or an https URL on a public address: "
        "this is not one of your files."
    )
    assert not Generation.objects.exists()


def test_an_end_frame_of_ones_own_upload_reaches_higgsfield_where_it_can_fetch_it(
    higgsfield, alice_api, seed_catalogue, run_worker
):
    start_data, end_data = png(), png((240, 200, 20))
    start_frame, end_frame = upload(alice_api, start_data), upload(alice_api, end_data)
    response = alice_api.post(
        "/api/generations",
        {
            "mode": "image-to-video",
            "model_name": "dop",
            "prompt": "the camera pushes in",
            "image_url": start_frame,
            "parameters": {"end_image_url": end_frame},
        },
    )
    assert response.status_code == 202, response.content
    generation_id = response.json()["id"]
    run_worker(lambda: Generation.objects.get(pk=generation_id).is_final, timeout=30)
    assert Generation.objects.get(pk=generation_id).status == "completed"
    body = higgsfield.submissions[0].body
    # Our host is private (no PUBLIC_BASE_URL): both frames were put on Higgsfield's own storage.
    assert httpx.get(body["image_url"]).content == start_data
    assert httpx.get(body["end_image_url"]).content == end_data
    assert sorted(data for _, data in higgsfield.uploads.values()) == sorted([start_data, end_data])


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_number_json_cannot_carry_is_refused_with_a_clear_422(alice_api, seed_catalogue, number):
    image = '"mode": "text-to-image", "model_name": "soul", "prompt": "a lake"'
    response = post_raw(alice_api, f'{{{image}, "parameters": {{"seed": {number}}}}}')
    assert response.status_code == 422
    assert response.json()["detail"].startswith("seed must be a finite number; got ")
    response = post_raw(alice_api, f'{{{image}, "style_strength": {number}}}')
    assert response.status_code == 422
    assert response.json()["detail"].startswith("style_strength must be a number from 0 to 1; got ")
    assert not Generation.objects.exists()
