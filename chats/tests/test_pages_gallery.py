"""The gallery page and downloads: finished results only, filters that stay across pages, a fixed number of
queries per page, and downloads named from the prompt and date (local disk and S3), each marking the result kept."""

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.text import Truncator

from chats import services as chat_services
from chats.models import Attachment
from chats.tests.s3 import s3_storages
from conftest import run_tasks_until
from generation import media, preview
from generation.models import Generation

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def media_root(fast_generation):
    """Results in a temporary folder (see fast_generation in the root conftest)."""


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def made(owner, prompt, *, kind="image", chat=None, status=Generation.Status.COMPLETED, when=None, size=(64, 48)):
    """A generation as a finished job leaves it: the preview provider's real PNG or MP4 stored as its result."""
    generation = Generation(
        owner=owner,
        chat=chat,
        kind="text_to_image" if kind == "image" else "text_to_video",
        model_key="soul" if kind == "image" else "kling-2-5-t2v",
        prompt=prompt,
        provider="preview",
        dedupe_key=uuid.uuid4().hex,
        webhook_token=uuid.uuid4().hex,
        deadline_at=timezone.now() + timedelta(hours=1),
        status=status,
    )
    if status == Generation.Status.COMPLETED:
        if kind == "image":
            data = preview.render_image(prompt=prompt, width=size[0], height=size[1])
        else:
            data = preview.render_clip(prompt=prompt, width=size[0], height=size[1], frames=4)
        info = media.probe(data)
        name = default_storage.save(f"results/{owner.pk}/{generation.pk}.{info.extension}", ContentFile(data))
        generation.result = Attachment.objects.create(
            owner=owner, chat=chat, size_bytes=len(data), file=name, **info.attachment_fields()
        )
        generation.finished_at = timezone.now()
    generation.save()
    if when:
        Generation.objects.filter(pk=generation.pk).update(created_at=when, finished_at=when)
        generation.refresh_from_db()
    return generation


@pytest.fixture
def chat(alice):
    return chat_services.chat_create(owner=alice, title="Mountain evenings")


# --- The grid ---


def test_the_gallery_shows_finished_results_newest_first_with_prompt_model_date_and_chat(alice, chat):
    older = made(alice, "a cinematic sunset over mountains", chat=chat, when=timezone.now() - timedelta(days=2))
    newer = made(alice, "a dancer in the rain", kind="video", chat=chat)
    made(alice, "a failed attempt", chat=chat, status=Generation.Status.FAILED)
    made(alice, "still running", chat=chat, status=Generation.Status.IN_PROGRESS)
    html = client_for(alice).get("/gallery/").content.decode()
    assert html.index(f'id="gallery-{newer.id}"') < html.index(f'id="gallery-{older.id}"')
    assert "a cinematic sunset over mountains" in html and "a dancer in the rain" in html
    assert "Soul" in html and "Kling 2.5 Turbo" in html
    assert timezone.localtime(older.created_at).strftime("%-d %b %Y") in html
    assert f'href="/chats/{chat.id}/#generation-{older.id}">Mountain evenings</a>' in html
    # Without scripts a thumbnail is a plain link to the full file.
    assert f'href="{newer.result.file.url}" data-gallery-open data-kind="video"' in html
    assert "a failed attempt" not in html and "still running" not in html


def test_a_long_prompt_is_shortened_in_the_grid_and_whole_in_its_title(alice):
    prompt = "a lighthouse on a cliff " * 10
    made(alice, prompt)
    html = client_for(alice).get("/gallery/").content.decode()
    assert f'title="{prompt}"' in html
    shortened = Truncator(prompt).chars(90)
    assert shortened.endswith("…") and f'<p class="gallery-prompt" title="{prompt}">{shortened}</p>' in html


def test_the_filters_show_only_their_kind_and_mark_the_active_one(alice, chat):
    image = made(alice, "a cinematic sunset over mountains", chat=chat)
    video = made(alice, "a dancer in the rain", kind="video", chat=chat)
    client = client_for(alice)

    videos = client.get("/gallery/?kind=video").content.decode()
    assert f'id="gallery-{video.id}"' in videos and f'id="gallery-{image.id}"' not in videos
    assert '<a class="button" href="/gallery/?kind=video" aria-current="page">Videos</a>' in videos

    images = client.get("/gallery/?kind=image").content.decode()
    assert f'id="gallery-{image.id}"' in images and f'id="gallery-{video.id}"' not in images
    assert '<a class="button" href="/gallery/?kind=image" aria-current="page">Images</a>' in images

    everything = client.get("/gallery/").content.decode()
    assert f'id="gallery-{image.id}"' in everything and f'id="gallery-{video.id}"' in everything
    assert '<a class="button" href="/gallery/" aria-current="page">All</a>' in everything


def test_an_empty_filter_says_so_and_offers_everything(alice):
    made(alice, "a cinematic sunset over mountains")
    html = client_for(alice).get("/gallery/?kind=video").content.decode()
    assert "No videos yet" in html and '<a href="/gallery/">Show everything</a>' in html


def test_an_unknown_filter_or_cursor_is_refused_with_a_reason(alice):
    client = client_for(alice)
    response = client.get("/gallery/?kind=audio")
    assert response.status_code == 400
    assert "Unknown kind" in response.content.decode()
    assert client.get("/gallery/?cursor=nonsense").status_code == 400


def test_pages_keep_the_filter_and_go_on_where_the_last_one_ended(alice, chat):
    start = timezone.now() - timedelta(hours=1)
    videos = [made(alice, f"clip {n}", kind="video", chat=chat, when=start + timedelta(minutes=n)) for n in range(26)]
    made(alice, "a still", chat=chat, when=start + timedelta(minutes=30))
    client = client_for(alice)
    first = client.get("/gallery/?kind=video")
    more_url = first.context["more_url"]
    assert more_url.startswith("/gallery/?kind=video&cursor=")
    html = first.content.decode()
    assert html.count('class="gallery-item"') == 24
    assert f'hx-get="{more_url.replace("&", "&amp;")}" hx-trigger="click, revealed"' in html
    assert ">Show more</a>" in html

    rest = client.get(more_url, headers=HX).content.decode()
    assert "<html" not in rest
    shown = [v for v in videos if f'id="gallery-{v.id}"' in rest]
    assert shown == videos[:2]  # the two oldest
    assert "a still" not in rest and "Show more" not in rest


def test_a_person_sees_only_their_own_results(alice, bob):
    mine = made(alice, "a cinematic sunset over mountains")
    theirs = made(bob, "a harbour at dawn")
    html = client_for(alice).get("/gallery/").content.decode()
    assert f'id="gallery-{mine.id}"' in html and f'id="gallery-{theirs.id}"' not in html


def test_a_page_costs_the_same_queries_whatever_it_holds(alice):
    client = client_for(alice)
    chats = [chat_services.chat_create(owner=alice, title=f"Chat {n}") for n in range(6)]
    made(alice, "one", chat=chats[0])
    client.get("/gallery/")  # labels and sessions warmed
    with CaptureQueriesContext(connection) as few:
        assert client.get("/gallery/").status_code == 200
    for n in range(12):
        made(alice, f"more {n}", kind="video" if n % 2 else "image", chat=chats[n % 6])
    with CaptureQueriesContext(connection) as many:
        html = client.get("/gallery/").content.decode()
    assert html.count('class="gallery-item"') == 13
    assert len(many) == len(few), [q["sql"] for q in many]
    with CaptureQueriesContext(connection) as fragment:
        client.get("/gallery/?kind=video", headers=HX)
    assert len(fragment) <= len(few)


# --- Downloads ---


def test_a_download_is_the_file_named_from_its_prompt_and_date_and_marks_it_kept(alice):
    generation = made(alice, "A cinematic sunset over mountains!")
    response = client_for(alice).get(f"/generations/{generation.id}/download/")
    assert response.status_code == 200
    day = timezone.localdate(generation.created_at).isoformat()
    name = f"higgs-a-cinematic-sunset-over-mountains-{day}.png"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == generation.result.file.open("rb").read()
    generation.refresh_from_db()
    assert generation.downloaded_at is not None


def test_a_video_downloads_as_mp4_and_a_long_or_foreign_prompt_still_makes_a_plain_name(alice):
    generation = made(alice, "Über " + "very long words about a dancer " * 6, kind="video")
    response = client_for(alice).get(f"/generations/{generation.id}/download/")
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    assert name.startswith("higgs-uber-very-long-words-about-a-dancer-") and name.endswith(".mp4")
    words = name.removeprefix("higgs-").rsplit("-", 3)[0]
    assert len(words) <= 60 and not words.endswith("-")
    assert response["Content-Type"] == "video/mp4"
    # A prompt without a letter of ASCII names the file by its kind.
    sunset = made(alice, "山の夕日")
    day = timezone.localdate(sunset.created_at).isoformat()
    response = client_for(alice).get(f"/generations/{sunset.id}/download/")
    assert response["Content-Disposition"] == f'attachment; filename="higgs-image-{day}.png"'


def test_another_persons_download_is_not_found_and_not_marked(alice, bob):
    generation = made(alice, "a cinematic sunset over mountains")
    assert client_for(bob).get(f"/generations/{generation.id}/download/").status_code == 404
    assert Client().get(f"/generations/{generation.id}/download/").status_code == 302  # to the login page
    generation.refresh_from_db()
    assert generation.downloaded_at is None


def test_a_job_without_a_result_has_nothing_to_download(alice):
    generation = made(alice, "a failed attempt", status=Generation.Status.FAILED)
    assert client_for(alice).get(f"/generations/{generation.id}/download/").status_code == 404
    assert client_for(alice).get(f"/generations/{uuid.uuid4()}/download/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_chats_download_button_gives_the_named_file_of_a_real_generation(alice, seed_catalogue):
    chat = chat_services.chat_create(owner=alice, title="Generate")
    option = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains").options.first()
    client = client_for(alice)
    client.post(f"/options/{option.id}/generate/", headers=HX)
    generation = Generation.objects.get(option=option)
    run_tasks_until(lambda: Generation.objects.get(pk=generation.pk).is_final)
    card = client.get(f"/generations/{generation.id}/", headers=HX).content.decode()
    assert f'href="/generations/{generation.id}/download/" download>Download</a>' in card
    response = client.get(f"/generations/{generation.id}/download/")
    assert response["Content-Disposition"].startswith('attachment; filename="higgs-')
    assert Generation.objects.get(pk=generation.pk).downloaded_at is not None


def test_with_s3_a_download_is_a_presigned_url_that_names_the_file(alice, settings, s3_server):
    bucket = f"higgs-{uuid.uuid4().hex[:12]}"
    s3_storages(settings, s3_server, bucket)
    default_storage.connection.meta.client.create_bucket(Bucket=bucket)
    generation = made(alice, "a cinematic sunset over mountains")
    response = client_for(alice).get(f"/generations/{generation.id}/download/")
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(f"{s3_server}/{bucket}/results/")
    assert "X-Amz-Signature" in parse_qs(urlsplit(url).query)
    day = timezone.localdate(generation.created_at).isoformat()
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.headers["content-disposition"] == (
        f'attachment; filename="higgs-a-cinematic-sunset-over-mountains-{day}.png"'
    )
    assert fetched.content == generation.result.file.open("rb").read()
    generation.refresh_from_db()
    assert generation.downloaded_at is not None
    assert client_for(alice).get(f"/generations/{generation.id}/download/").status_code == 302
