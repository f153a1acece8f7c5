"""What a person sees after each thing they do, in Debian's Chromium driven by Playwright: a refused message
keeps its words and says why, a long one is counted, "Animate this image" and "Another take" show their new
turn or card at once (and once), notices stay in view, the tab follows a rename, a cancel is no error.

uvicorn and the worker run as separate processes on the test database, with the fake Claude and the local
preview provider (which never fails here). Each test saves a screenshot of its final page in
artifacts/screenshots/.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.db import connection

from bench.fake_model import answer
from chats.tests.test_browser import send, sign_up
from generation import services as generation_services
from generation.models import Generation
from higgs_project.testing import SHOTS, app_env, browser_tab, fake_claude, running_app

pytestmark = pytest.mark.django_db(transaction=True)

DANGER = "rgb(179, 38, 30)"  # --danger in app.css: the colour of errors


@pytest.fixture(scope="module")
def env(django_db_setup, django_db_blocker, tmp_path_factory):
    with fake_claude(partial(answer, delay=0.3)) as claude:
        yield app_env(django_db_blocker, tmp_path_factory.mktemp("media"), claude=claude, PREVIEW_QUEUE_SECONDS="3")


@pytest.fixture(scope="module")
def app(env):
    """uvicorn and `manage.py run_worker`."""
    with running_app(env) as base:
        yield base


@pytest.fixture(scope="module")
def limited_app(env):
    """uvicorn taking one message a minute from each person (no worker: nothing is generated there)."""
    with running_app({**env, "RATE_LIMIT_MESSAGES": "1/minute"}, worker=False) as base:
        yield base


@pytest.fixture
def page(seed_catalogue, request):
    with browser_tab(request.node.name) as tab:
        yield tab


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def generate(option):
    """Press Generate on an option and wait for its first card to finish."""
    option.locator("button:has-text('Generate')").click()
    card = option.locator("article.generation.completed").first
    card.locator("img.result").wait_for(timeout=30_000)
    return card


def outside_the_page(work):
    """Run ORM work beside Playwright's event loop (which the sync ORM refuses to share a thread with)."""

    def run():
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def colours(locator) -> list[str]:
    """The text colours of the visible paragraphs and badges inside `locator`."""
    return locator.evaluate(
        "el => [...el.querySelectorAll('p, .badge')].filter(e => e.offsetParent).map(e => getComputedStyle(e).color)"
    )


# --- The composer ---


def test_a_refused_message_keeps_its_words_and_says_why(page, app):
    sign_up(page, app, "ines")
    composer, error = page.locator("#composer-text"), page.locator("#composer-error")

    # Only spaces: nothing to send, and the reason says so.
    composer.fill("   ")
    page.click("#composer button[type=submit]")
    expect(error).to_contain_text("Write what you would like to make, or attach an image.")

    # "Video from my image" without an image.
    page.select_option("#composer-mode", label="Video from my image")
    composer.fill("a dancer")
    composer.press("Enter")
    expect(error).to_contain_text("Video from an image needs an image: attach one to the message.")
    expect(composer).to_have_value("a dancer")
    expect(composer).to_be_focused()
    expect(page.locator("#composer-mode")).to_have_value("image_to_video")
    expect(page.locator("#composer button[type=submit]")).to_be_enabled()
    expect(page.locator("article.message")).to_have_count(0)

    # With the mode put back to Any, the same words go, and the reason goes with them.
    page.select_option("#composer-mode", label="Any")
    composer.press("Enter")
    page.locator("article.message.assistant.complete").wait_for()
    assert "a dancer" in page.locator("article.message.user").first.inner_text()
    expect(composer).to_have_value("")
    expect(error).to_be_hidden()


def test_a_rate_limited_message_keeps_its_words_and_says_why(page, limited_app):
    sign_up(page, limited_app, "joan")
    send(page, "a cinematic sunset over mountains")
    composer = page.locator("#composer-text")
    composer.fill("a lighthouse in a storm")
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("You're sending messages quickly. Try again in")
    expect(composer).to_have_value("a lighthouse in a storm")
    expect(composer).to_be_focused()
    expect(page.locator("article.message.user")).to_have_count(1)


def test_a_message_over_the_limit_is_counted_and_refused_not_cut(page, app):
    sign_up(page, app, "kate")
    composer, count = page.locator("#composer-text"), page.locator("#composer-count")
    composer.fill("a quiet harbour at dawn. " * 100)  # 2,500 characters: far from the limit, no count
    expect(count).to_be_hidden()

    long = "a quiet harbour at dawn, " * 330  # 8,250 characters, 8,249 without the space at the end
    composer.fill(long)
    expect(count).to_be_visible()
    expect(count).to_have_text("8,249 of 8,000 characters: 249 too many to send")
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text(
        "A message can have at most 8000 characters; this one has 8249."
    )
    expect(composer).to_have_value(long)
    expect(page.locator("article.message")).to_have_count(0)

    composer.fill(long[:7500])
    expect(count).to_have_text("7,499 of 8,000 characters")


# --- Results ---


def test_animate_this_image_shows_the_new_turn_at_once_and_only_once(page, app):
    sign_up(page, app, "lena")
    send(page, "a cinematic sunset over mountains")
    chat_url = page.url
    card = generate(page.locator("section.option").first)

    animate = card.locator("button:has-text('Animate this image')")
    # Two clicks in a row: the first disables the button until its answer is in, so the second does nothing.
    assert animate.evaluate("button => { button.click(); const busy = button.disabled; button.click(); return busy; }")
    asked = page.locator("article.message.user", has_text="Animate this image")
    expect(asked).to_have_count(1, timeout=10_000)
    expect(asked.locator("img.attachment")).to_have_count(1)
    assert page.url == chat_url

    reply = page.locator("article.message.assistant").last
    reply.locator("section.option").first.wait_for()
    expect(page.locator("article.message.assistant.complete")).to_have_count(2, timeout=20_000)
    assert "Image to video" in reply.locator("section.option").first.inner_text()
    expect(asked).to_have_count(1)
    expect(animate).to_be_enabled()


def test_generate_again_points_to_the_result_and_another_take_makes_one_more(page, app):
    sign_up(page, app, "mary")
    send(page, "a lighthouse in a storm")
    option = page.locator("section.option").first
    generate(option)
    credits = page.locator("#credits")
    start = int(credits.inner_text().split()[0])

    # The same prompt with the same model again: no second card, but a word on where it is.
    option.locator("button:has-text('Generate')").click()
    expect(option.locator("[role=alert]").first).to_contain_text("already made: see it below")
    expect(option.locator("article.generation")).to_have_count(1)
    expect(credits).to_have_text(f"{start} credits")

    take = option.locator("article.generation.completed button", has_text="Another take")
    expect(take).to_have_text(re.compile(r"^Another take · \d+ credits?$"))
    price = int(re.search(r"(\d+) credit", take.inner_text())[1])
    take.dblclick()
    expect(option.locator("article.generation")).to_have_count(2)
    expect(credits).to_have_text(f"{start - price} credits")
    option.locator("article.generation.completed").nth(1).wait_for(timeout=30_000)
    expect(option.locator("article.generation")).to_have_count(2)
    assert outside_the_page(Generation.objects.filter(owner__username="mary").count) == 2


def test_a_cancel_is_shown_plainly_and_a_failure_as_an_error(page, app):
    sign_up(page, app, "pia")
    send(page, "a lighthouse in a storm")
    options = page.locator("article.message.assistant").last.locator("section.option")

    options.nth(0).locator("button:has-text('Generate')").click()
    options.nth(0).locator("button:has-text('Cancel')").click()
    cancelled = options.nth(0).locator("article.generation.cancelled")
    expect(cancelled).to_contain_text("Cancelled")
    expect(cancelled.locator(".error")).to_have_count(0)
    assert DANGER not in colours(cancelled)

    options.nth(1).locator("button:has-text('Generate')").click()
    running = options.nth(1).locator("article.generation")
    job_id = running.get_attribute("id").removeprefix("generation-")
    outside_the_page(
        lambda: generation_services.generation_fail(
            generation=Generation.objects.get(pk=job_id), error="The provider could not make it."
        )
    )
    failed = options.nth(1).locator("article.generation.failed")
    expect(failed).to_contain_text("The provider could not make it.")
    assert DANGER in colours(failed)


# --- The page around the chat ---


def test_a_notice_stays_in_view_on_a_page_scrolled_to_its_newest_message(page, app):
    page.set_viewport_size({"width": 1280, "height": 600})
    sign_up(page, app, "nora")
    send(page, "a cinematic sunset over mountains")
    first_chat = page.url
    page.goto(f"{app}/chats/new/")
    send(page, "a lighthouse in a storm")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url(first_chat)
    page.wait_for_function("window.scrollY > 0")  # the page went down to the newest message
    notice = page.locator("[role=status]", has_text="was deleted")
    expect(notice).to_be_visible()
    expect(notice).to_be_in_viewport()
    page.screenshot(path=str(SHOTS / "test_a_notice_stays_in_view_on_load.png"))

    notice.get_by_role("button", name="Dismiss this notice").click()
    expect(notice).to_be_hidden()


def test_a_renamed_chat_names_the_tab(page, app):
    sign_up(page, app, "olga")
    send(page, "a red fox in fresh snow")
    expect(page).to_have_title("a red fox in fresh snow · Higgs")

    page.click("a:has-text('Rename')")
    page.fill("input[name=title]", "Fox studies")
    page.click("button:has-text('Save')")
    expect(page.locator("#chat-title")).to_have_text("Fox studies")
    expect(page).to_have_title("Fox studies · Higgs")
    expect(page.locator("#chat-list a[aria-current=page]")).to_have_text("Fox studies")
