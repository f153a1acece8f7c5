"""What Higgs learned, as a person sees it in Debian's Chromium driven by Playwright: after generating a few
vertical Soul options, the "What Higgs learned" page lists them, the next reply offers that kind first and says
why, and Reset empties the page.

uvicorn and the worker run as separate processes on the test database, with the offline recommender (no Claude
key) and the local preview provider. Each test saves a screenshot of its final page in artifacts/screenshots/.
"""

import pytest

from chats.tests.test_browser import sign_up
from higgs_project.testing import SHOTS, app_env, running_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn and `manage.py run_worker`, replies from the offline recommender."""
    media = tmp_path_factory.mktemp("media")
    env = app_env(django_db_blocker, media, PREVIEW_QUEUE_SECONDS="0", PREVIEW_WORK_SECONDS="0.3")
    with running_app(env) as base:
        yield base


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def send(page, text):
    """Send a message and wait until its reply is complete (earlier replies are complete already)."""
    done = page.locator("article.message.assistant.complete")
    before = done.count()
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")
    expect(done).to_have_count(before + 1)


def test_the_taste_page_lists_what_was_chosen_the_next_reply_uses_it_and_reset_empties_it(page, app):
    sign_up(page, app, "tess")
    for subject in ("a dancer on a stage", "a violinist in the rain", "a sailor on a pier"):
        send(page, f"a portrait of {subject}, vertical")
        first = page.locator("article.message.assistant").last.locator("section.option").first
        expect(first).to_contain_text("Soul")
        first.locator("button:has-text('Generate')").click()
        first.locator("article.generation.completed img.result").first.wait_for(timeout=30_000)

    page.click("text=What Higgs learned")
    page.wait_for_url(f"{app}/taste/")
    expect(page.locator("h1")).to_have_text("What Higgs learned")
    models = page.locator(".taste-group", has=page.locator("h2", has_text="Models"))
    expect(models).to_contain_text("Soul")
    expect(models).to_contain_text("chosen 3×")
    expect(page.locator(".taste-group", has=page.locator("h2", has_text="Formats"))).to_contain_text("vertical")
    page.screenshot(path=str(SHOTS / "taste_page_after_three_vertical_soul_images.png"), full_page=True)

    page.click("text=New chat")
    send(page, "a portrait of a skateboarder at dusk, vertical")
    first = page.locator("article.message.assistant").last.locator("section.option").first
    expect(first).to_contain_text("Soul · Image")
    expect(first).to_contain_text("9:16")
    expect(first.locator(".reason")).to_contain_text("You often choose vertical Soul images")
    # The other options are not said to be what she often chooses.
    others = page.locator("article.message.assistant").last.locator("section.option .reason")
    expect(others.filter(has_text="You often choose")).to_have_count(1)

    page.click("text=What Higgs learned")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Reset')")
    expect(page.locator("#taste-status")).to_contain_text("Nothing learned yet.")
    expect(page.locator(".taste-group")).to_have_count(0)
    assert page.url == f"{app}/taste/"
