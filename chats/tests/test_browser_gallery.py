"""The gallery in Debian's Chromium driven by Playwright: a grid of results with their prompt, model, date and
chat; the viewer that opens on a click, steps with the arrow keys and gives focus back on Escape; the Videos
filter kept in the URL and across pages; the next page loaded as the end comes into view.

uvicorn runs as a separate process on the test database; results are the local preview provider's real
PNGs and MP4 clips, stored where that process reads its media. Each test saves a screenshot of its final page
in artifacts/screenshots/ (the grid's, gallery_grid.png at 1280x800, is the README's docs/gallery.png).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chats import services as chat_services
from chats.models import User
from chats.tests.test_browser import sign_up
from chats.tests.test_browser_feedback import expect, outside_the_page
from chats.tests.test_pages_gallery import made
from generation.models import Generation
from higgs_project.testing import SHOTS, app_env, browser_tab, running_app

pytestmark = pytest.mark.django_db(transaction=True)

IDEAS = [
    ("a cinematic sunset over mountains", "image"),
    ("a lighthouse on a cliff in a storm, waves breaking", "image"),
    ("a dancer spinning in the rain", "video"),
    ("a quiet harbour at dawn with fishing boats", "image"),
    ("a neon city street at night, reflections on wet asphalt", "image"),
    ("a fox in a snowy forest", "image"),
    ("a drone flight over a desert canyon", "video"),
    ("a bowl of ramen, steam rising, studio light", "image"),
]


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, media_root):
    """uvicorn on the test database (no worker: the results are made here)."""
    with running_app(app_env(django_db_blocker, media_root), worker=False) as base:
        yield base


@pytest.fixture
def shared_media(settings, media_root):
    """Results stored where the web process reads them."""
    settings.MEDIA_ROOT = media_root


def results_for(username, ideas, *, title="Evening ideas", size=(64, 48)):
    """Finished results for `username` in one chat, the first idea the oldest; returns them newest first."""

    def work():
        owner = User.objects.get(username=username)
        chat = chat_services.chat_create(owner=owner, title=title)
        start = timezone.now() - timedelta(hours=2)
        for n, (prompt, kind) in enumerate(ideas):
            made(owner, prompt, kind=kind, chat=chat, size=size, when=start + timedelta(minutes=n))
        return list(Generation.objects.filter(owner=owner).select_related("result").order_by("-created_at"))

    return outside_the_page(work)


@pytest.fixture
def page(app, shared_media, seed_catalogue, request):
    with browser_tab(request.node.name, height=800) as tab:
        yield tab


def test_the_grid_shows_each_result_with_its_prompt_model_date_and_chat(page, app):
    sign_up(page, app, "grace")
    newest_first = results_for("grace", IDEAS, size=(480, 360))
    page.goto(f"{app}/gallery/")
    items = page.locator(".gallery-item")
    expect(items).to_have_count(len(IDEAS))
    first = items.first
    expect(first).to_contain_text("a bowl of ramen, steam rising, studio light")
    expect(first).to_contain_text("Soul")
    expect(first).to_contain_text(timezone.localtime(newest_first[0].created_at).strftime("%-d %b %Y"))
    expect(first.get_by_role("link", name="Evening ideas")).to_be_visible()
    video = page.locator(".gallery-item", has_text="a drone flight over a desert canyon")
    expect(video).to_contain_text("Kling 2.5 Turbo")
    expect(video.locator(".play-mark")).to_be_visible()
    expect(page.get_by_role("link", name="All", exact=True)).to_have_attribute("aria-current", "page")
    # The grid is even: every thumbnail has the same size.
    boxes = [thumb.bounding_box() for thumb in page.locator(".gallery-thumb").all()]
    assert len({(round(b["width"]), round(b["height"])) for b in boxes}) == 1
    # Images load before the picture is taken.
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(SHOTS / "gallery_grid.png"))

    first.get_by_role("link", name="Evening ideas").click()
    expect(page).to_have_url(re.compile(rf"/chats/[0-9a-f-]+/#generation-{newest_first[0].id}$"))


def test_the_viewer_opens_steps_with_the_arrows_and_gives_focus_back_on_escape(page, app):
    sign_up(page, app, "hedy")
    ideas = IDEAS[:4]
    newest_first = results_for("hedy", ideas, size=(320, 240))
    page.goto(f"{app}/gallery/")
    viewer = page.get_by_role("dialog", name=newest_first[0].prompt)
    expect(viewer).to_be_hidden()

    page.locator(".gallery-thumb").first.click()
    expect(viewer).to_be_visible()
    expect(page.get_by_role("button", name="Close the viewer")).to_be_focused()
    large = viewer.get_by_role("img", name=newest_first[0].prompt)
    expect(large).to_have_attribute("src", app + newest_first[0].result.file.url)
    large.evaluate("img => img.decode()")
    assert large.bounding_box()["width"] > page.locator(".gallery-thumb").first.bounding_box()["width"]
    expect(page.get_by_role("button", name="Previous item")).to_be_disabled()

    # The second newest is the video: it plays in the viewer, with controls.
    page.keyboard.press("ArrowRight")
    second = page.get_by_role("dialog", name=newest_first[1].prompt)
    expect(second.locator("video[controls]")).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("dialog", name=newest_first[2].prompt)).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(second).to_be_visible()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    last = page.get_by_role("dialog", name=newest_first[3].prompt)
    expect(last).to_be_visible()
    expect(page.get_by_role("button", name="Next item")).to_be_disabled()
    expect(last.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/generations/{newest_first[3].id}/download/"
    )
    page.screenshot(path=str(SHOTS / "gallery_viewer.png"))

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator(".gallery-thumb").nth(3)).to_be_focused()


def test_the_videos_filter_shows_only_videos_and_the_url_keeps_it(page, app):
    sign_up(page, app, "ida")
    results_for("ida", IDEAS)
    page.goto(f"{app}/gallery/")
    page.get_by_role("link", name="Videos", exact=True).click()
    expect(page).to_have_url(re.compile(r"/gallery/\?kind=video$"))
    expect(page.get_by_role("link", name="Videos", exact=True)).to_have_attribute("aria-current", "page")
    expect(page.locator(".gallery-item")).to_have_count(2)
    expect(page.locator(".gallery-thumb[data-kind=image]")).to_have_count(0)
    expect(page.locator(".gallery-item").first).to_contain_text("a drone flight over a desert canyon")
    page.reload()
    expect(page.locator(".gallery-item")).to_have_count(2)


def test_scrolling_to_the_end_loads_the_next_page_with_the_same_filter(page, app):
    sign_up(page, app, "joy")
    ideas = [(f"clip number {n}", "video") for n in range(27)] + [(f"still number {n}", "image") for n in range(5)]
    results_for("joy", ideas, size=(64, 36))
    page.goto(f"{app}/gallery/?kind=video")
    items = page.locator(".gallery-item")
    expect(items).to_have_count(24)
    more = page.get_by_role("link", name="Show more")
    expect(more).to_be_visible()
    assert more.bounding_box()["y"] > 800  # below the fold until scrolled to

    page.mouse.wheel(0, 20_000)
    expect(items).to_have_count(27)
    expect(more).to_have_count(0)
    expect(page.locator(".gallery-thumb[data-kind=image]")).to_have_count(0)
    expect(items.last).to_contain_text("clip number 0")
    expect(page).to_have_url(re.compile(r"/gallery/\?kind=video$"))


def test_the_viewer_steps_on_into_the_next_page(page, app):
    sign_up(page, app, "kay")
    ideas = [(f"clip number {n}", "video") for n in range(26)]
    results_for("kay", ideas, size=(64, 36))
    page.goto(f"{app}/gallery/")
    items = page.locator(".gallery-item")
    expect(items).to_have_count(24)
    page.locator(".gallery-thumb").first.click()
    expect(page.get_by_role("dialog", name="clip number 25")).to_be_visible()
    for _ in range(23):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("dialog", name="clip number 2", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Next item")).to_be_enabled()  # more are there to load
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("dialog", name="clip number 1", exact=True)).to_be_visible()
    expect(items).to_have_count(26)
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("dialog", name="clip number 0", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Next item")).to_be_disabled()
    page.keyboard.press("Escape")
    expect(page.locator(".gallery-thumb").last).to_be_focused()
