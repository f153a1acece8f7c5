"""The chat in a real browser: Debian's Chromium driven by Playwright, against uvicorn and the worker
running as separate processes on the test database, with the fake Claude and the local preview provider.

Each test saves a screenshot of its final page in artifacts/screenshots/.
"""

import re
from functools import partial

import pytest

from bench.fake_model import answer
from higgs_project.testing import app_env, fake_claude, running_app

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long harbour sunrise"


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn and `manage.py run_worker` on the test database, with the fake Claude; every second job fails."""
    with fake_claude(partial(answer, delay=0.3)) as claude:
        media = tmp_path_factory.mktemp("media")
        env = app_env(django_db_blocker, media, claude=claude, PREVIEW_QUEUE_SECONDS="3", PREVIEW_FAIL_EVERY="2")
        with running_app(env) as base:
            yield base


def sign_up(page, app, name):
    page.goto(f"{app}/accounts/signup/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$|.*/chats/.*"))


def send(page, text):
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")
    page.locator("article.message.assistant.complete").last.wait_for()


def test_sign_up_send_stream_generate_reload_and_delete(page, app):
    sign_up(page, app, "ada")
    send(page, "a cinematic sunset over mountains")
    reply = page.locator("article.message.assistant").last
    assert "three ways" in reply.inner_text()
    assert reply.locator("section.option").count() == 3
    chat_url = page.url

    reply.locator("section.option").first.locator("button:has-text('Generate')").click()
    page.locator("article.generation.completed img").first.wait_for(timeout=30_000)

    page.goto(chat_url)
    assert "a cinematic sunset over mountains" in page.locator("article.message.user").first.inner_text()
    assert page.locator("section.option").count() == 3
    assert page.locator("article.generation.completed img").count() == 1

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url(re.compile(r"^(?!.*chats/).*$"))
    assert page.locator("#chat-list a", has_text="a cinematic sunset").count() == 0


def test_cancel_a_running_job_and_retry_a_failed_one(page, app):
    sign_up(page, app, "grace")
    send(page, "a lighthouse in a storm")
    options = page.locator("article.message.assistant").last.locator("section.option")

    # The first job of this run succeeds (PREVIEW_FAIL_EVERY=2 fails every second one): cancel it while queued.
    options.nth(0).locator("button:has-text('Generate')").click()
    options.nth(0).locator("button:has-text('Cancel')").click()
    options.nth(0).locator("article.generation.cancelled").wait_for()

    # The next one fails; Retry makes a new attempt, which succeeds.
    options.nth(1).locator("button:has-text('Generate')").click()
    options.nth(1).locator("article.generation.failed").wait_for(timeout=30_000)
    options.nth(1).locator("button:has-text('Retry')").click()
    options.nth(1).locator("article.generation.completed img").wait_for(timeout=30_000)


def png_file(tmp_path):
    from PIL import Image

    path = tmp_path / "harbour.png"
    Image.new("RGB", (320, 240), (40, 110, 180)).save(path)
    return path


def test_upload_an_image_see_its_preview_and_get_image_to_video_options(page, app, tmp_path):
    sign_up(page, app, "hedy")
    page.set_input_files("#composer-file", str(png_file(tmp_path)))
    box = page.locator("[data-attachment]")
    box.locator("text=Ready to send").wait_for()
    assert page.eval_on_selector("[data-attachment-preview]", "img => img.src.startsWith('blob:') && img.naturalWidth")
    assert "harbour.png" in box.inner_text()

    send(page, "make it orbit slowly like a music video")
    assert box.is_hidden()  # the composer is clear for the next message
    mine = page.locator("article.message.user").last
    assert mine.locator("img.attachment").count() == 1
    options = page.locator("article.message.assistant").last.locator("section.option")
    assert options.count() >= 2
    assert all("Image to video" in options.nth(i).inner_text() for i in range(options.count()))

    # A file that is not an image is refused in the page before anything is sent.
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    page.set_input_files("#composer-file", str(text))
    assert "Attach a JPEG, PNG, WebP or GIF image." in page.locator("#composer-error").inner_text()
    assert box.is_hidden()


def tab_to(page, locator, presses: int) -> bool:
    """Press Tab until `locator` has the focus, at most `presses` times; whether it got there."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return True
    return False


def test_at_phone_width_by_keyboard_alone_with_an_edited_prompt(page, app):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_up(page, app, "alan")
    # Every field has a name a screen reader can say.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
              .map(el => el.name || el.id)"""
    )
    assert unlabelled == []

    page.focus("#composer-text")
    page.keyboard.type("a red fox in fresh snow")
    page.keyboard.press("Enter")
    page.locator("article.message.assistant.complete").last.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing runs off the side

    # Tab to the first option's prompt, open it, edit it, then on to its Generate button.
    option = page.locator("section.option").first
    assert tab_to(page, option.locator("summary"), presses=80), "the option's prompt cannot be reached with Tab"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    edited = "A red fox mid-leap over fresh snow at dawn, low angle, frost sparkling in warm side light."
    page.keyboard.type(edited)
    generate = option.locator("button:has-text('Generate')")
    assert tab_to(page, generate, presses=5), "Generate cannot be reached with Tab from the prompt"
    page.keyboard.press("Enter")
    option.locator("article.generation.completed img, article.generation.failed").first.wait_for(timeout=30_000)
    card = option.locator("article.generation").first
    if "failed" in card.get_attribute("class"):
        card.locator("button:has-text('Retry')").focus()
        page.keyboard.press("Enter")
        option.locator("article.generation.completed img").first.wait_for(timeout=30_000)
    made = option.locator("article.generation.completed details.made-with")
    made.locator("summary").click()
    assert edited in made.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
