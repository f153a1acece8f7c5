"""The composer beyond text: a preferred mode and model, an uploaded image, and a prompt edited before generating."""

import io
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from PIL import Image

from chats import replies, services
from chats.models import Attachment, Message
from conftest import run_tasks_until
from generation.models import Generation

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def chat(alice, seed_catalogue):
    return services.chat_create(owner=alice, title="Composer")


def png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def upload_as_the_page_does(user, data=None, file_name="beach.png"):
    """The composer's script: presign with the session, then PUT the raw bytes to the upload URL."""
    data = data or png_bytes()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/chats/new/")
    token = page.cookies["csrftoken"].value
    ticket = client.post(
        "/api/attachments/presign",
        {"file_name": file_name, "content_type": "image/png", "size": len(data)},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert ticket.status_code == 200, ticket.content
    ticket = ticket.json()
    put = Client().put(urlsplit(ticket["upload_url"]).path, data, content_type="image/png")
    assert put.status_code == 200, put.content
    return ticket


def post(user, chat, path=None, **data):
    """Post the composer (or `path`) as htmx does and wait for the reply; returns the response and the reply."""
    client = AsyncClient()
    client.force_login(user)

    async def run():
        response = await client.post(path or f"/chats/{chat.id}/messages/", data, headers=HX)
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    reply = Message.objects.filter(chat=chat, author_type="assistant").order_by("-position").first()
    return response, reply


# --- The composer on the page ---


def test_the_composer_offers_an_image_upload_a_mode_and_a_model(alice, chat):
    client = Client()
    client.force_login(alice)
    html = client.get(f"/chats/{chat.id}/").content.decode()
    assert 'type="file"' in html and 'accept="image/jpeg,image/png,image/webp,image/gif"' in html
    assert 'data-presign-url="/api/attachments/presign"' in html
    assert '<label for="composer-file"' in html
    assert '<select id="composer-mode" name="mode"' in html and '<label for="composer-mode">' in html
    assert '<select id="composer-model" name="model"' in html and '<label for="composer-model">' in html
    assert '<option value="kling-2-5" data-kind="image_to_video">' in html
    assert 'name="attachment_url"' in html


# --- A preferred mode and model ---


def test_a_preferred_mode_decides_the_kind_of_every_option(alice, chat):
    response, reply = post(alice, chat, text="a cinematic sunset over mountains", mode="text_to_video")
    assert response.status_code == 200
    options = list(reply.options.all())
    assert options and {o.kind for o in options} == {"text_to_video"}
    assert Message.objects.get(chat=chat, position=1).preferred_kind == "text_to_video"


def test_a_preferred_model_is_the_model_of_every_option_and_implies_its_mode(alice, chat):
    response, reply = post(alice, chat, text="a cinematic sunset over mountains", model="reve")
    assert response.status_code == 200
    options = list(reply.options.all())
    assert options and {(o.kind, o.model_key) for o in options} == {("text_to_image", "reve")}


def test_an_older_clients_model_name_means_its_stand_in(alice, chat):
    # Seedream is not in Higgsfield's published API: the name older clients send means Flux Kontext Max.
    response, reply = post(alice, chat, text="a cinematic sunset over mountains", model="seedream")
    assert response.status_code == 200
    assert {o.model_key for o in reply.options.all()} == {"flux-kontext"}


def test_a_retried_reply_keeps_the_preference(alice, chat):
    _, reply = post(alice, chat, text="a red fox in fresh snow", model="minimax-t2v")
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.FAILED)
    response, retried = post(alice, chat, path=f"/messages/{reply.id}/retry/")
    assert response.status_code == 200
    assert retried.pk == reply.pk and retried.status == Message.Status.COMPLETE
    assert {o.model_key for o in retried.options.all()} == {"minimax-t2v"}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"mode": "text_to_image", "model": "kling-2-5"}, "makes image-to-video, not text-to-image"),
        ({"mode": "image_to_video"}, "needs an image: attach one"),
        ({"model": "no-such-model"}, "Unknown model"),
        ({"mode": "sound"}, "Select a valid choice"),
    ],
)
def test_an_impossible_preference_says_why_and_saves_nothing(alice, chat, data, words):
    response, _ = post(alice, chat, text="a lighthouse in a storm", **data)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer-error"
    assert words in response.content.decode()
    assert not Message.objects.filter(chat=chat).exists()


def test_a_message_needs_text_or_an_image(alice, chat):
    response, _ = post(alice, chat, text="   ")
    assert response.status_code == 422
    assert "Write what you would like to make, or attach an image." in response.content.decode()


def test_a_message_over_the_limit_is_refused_in_words_not_cut(alice, chat):
    response, _ = post(alice, chat, text="a" * 8001)
    assert response.status_code == 422
    assert "A message can have at most 8000 characters; this one has 8001." in response.content.decode()
    assert not Message.objects.filter(chat=chat).exists()
    # A line break counts once, as the person sees it, though the browser sends it as two characters.
    response, _ = post(alice, chat, text="a\r\n" * 2000 + "b" * 3999)
    assert response.status_code == 200
    assert Message.objects.get(chat=chat, position=1).content_text.count("\n") == 2000


def test_the_composer_counts_near_the_limit_instead_of_cutting(alice, chat):
    client = Client()
    client.force_login(alice)
    html = client.get(f"/chats/{chat.id}/").content.decode()
    assert 'data-max-length="8000"' in html and 'id="composer-count"' in html
    assert 'maxlength="8000"' not in html


# --- An uploaded image ---


def test_an_uploaded_image_is_sent_with_the_message_and_leads_to_image_to_video(alice, chat):
    ticket = upload_as_the_page_does(alice)
    response, reply = post(alice, chat, text="make it orbit slowly", attachment_url=ticket["download_url"])
    assert response.status_code == 200
    user_message = Message.objects.get(chat=chat, position=1)
    (attachment,) = user_message.attachments.all()
    assert (attachment.kind, attachment.width, attachment.height) == ("image", 80, 60)
    assert attachment.chat_id == chat.id
    assert {o.kind for o in reply.options.all()} == {"image_to_video"}
    # The person's message shows the image, on the answer and after a reload.
    assert f'src="{attachment.file.url}"' in response.content.decode()
    client = Client()
    client.force_login(alice)
    assert f'src="{attachment.file.url}"' in client.get(f"/chats/{chat.id}/").content.decode()


def test_an_image_alone_is_a_message(alice, chat):
    ticket = upload_as_the_page_does(alice)
    response, reply = post(alice, chat, text="", attachment_url=ticket["download_url"])
    assert response.status_code == 200
    assert reply.options.exists()


def test_an_image_can_be_turned_into_a_picture_when_the_mode_says_so(alice, chat):
    ticket = upload_as_the_page_does(alice)
    _, reply = post(
        alice, chat, text="a poster of this beach", attachment_url=ticket["download_url"], mode="text_to_image"
    )
    assert {o.kind for o in reply.options.all()} == {"text_to_image"}


def test_another_persons_upload_cannot_be_sent(alice, bob, chat):
    ticket = upload_as_the_page_does(bob)
    response, _ = post(alice, chat, text="animate this", attachment_url=ticket["download_url"])
    assert response.status_code == 422
    assert "Unknown attachment" in response.content.decode()
    assert not Message.objects.filter(chat=chat).exists()
    assert Attachment.objects.get(pk=ticket["upload_id"]).chat_id is None


def test_the_first_message_of_a_new_chat_can_carry_an_image(alice, seed_catalogue):
    ticket = upload_as_the_page_does(alice)
    client = AsyncClient()
    client.force_login(alice)

    async def run():
        response = await client.post(
            "/chats/start/", {"text": "make it move", "attachment_url": ticket["download_url"]}, headers=HX
        )
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    assert response.status_code == 200
    attachment = Attachment.objects.get(pk=ticket["upload_id"])
    assert response["HX-Redirect"] == f"/chats/{attachment.chat_id}/"
    assert attachment.message.position == 1


# --- Editing the prompt before generating ---


@pytest.mark.django_db(transaction=True)
def test_an_edited_prompt_is_what_is_generated_and_the_option_keeps_its_own(alice, chat, fast_generation):
    _, reply = post(alice, chat, text="a cinematic sunset over mountains")
    option = reply.options.first()
    client = Client()
    client.force_login(alice)
    page = client.get(f"/chats/{chat.id}/").content.decode()
    assert f'<textarea name="prompt" cols="40" rows="5" maxlength="5000" id="prompt-{option.id}">' in page

    edited = "A lone hiker on the ridge at sunset, long shadows, warm haze, 35mm film grain."
    response = client.post(f"/options/{option.id}/generate/", {"prompt": edited}, headers=HX)
    assert response.status_code == 200
    generation = Generation.objects.get(option=option)
    assert generation.prompt == edited
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    card = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    assert "How it was made" in card and edited in card  # the exact prompt that made it
    option.refresh_from_db()
    assert option.enhanced_prompt != edited

    # The unedited prompt is another request: a new generation, not the edited one again.
    client.post(f"/options/{option.id}/generate/", {"prompt": option.enhanced_prompt}, headers=HX)
    assert set(Generation.objects.filter(option=option).values_list("prompt", flat=True)) == {
        edited,
        option.enhanced_prompt,
    }


def test_a_prompt_over_the_limit_is_refused_on_the_card(alice, chat):
    _, reply = post(alice, chat, text="a cinematic sunset over mountains")
    option = reply.options.first()
    client = Client()
    client.force_login(alice)
    response = client.post(f"/options/{option.id}/generate/", {"prompt": "x" * 5001}, headers=HX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == f"#option-error-{option.id}"
    assert not Generation.objects.filter(option=option).exists()
