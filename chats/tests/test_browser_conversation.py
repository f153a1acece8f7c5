"""The conversation's controls in Debian's Chromium driven by Playwright: Stop (the button or Esc) keeps what was
written and says so, the last message can be edited and sent again, chats can be searched as one types, and the
keyboard shortcuts work and are listed in their help.

uvicorn runs as a separate process on the test database, with the fake Claude, which writes slowly when asked
"slowly". Each test saves a screenshot of its final page in artifacts/screenshots/.
"""

import re
from functools import partial

import pytest

from bench.fake_model import answer
from chats.tests.test_browser import send, sign_up
from higgs_project.testing import app_env, fake_claude, running_app
from recommender.tests.fake_anthropic import reply, text

pytestmark = pytest.mark.django_db(transaction=True)

LONG = " ".join(f"word{n}" for n in range(400))
DANGER = "rgb(179, 38, 30)"  # --danger in app.css: the colour of errors


def slow_or_quick(request):
    """A slow reply (three words every 0.08 s) to a message that says "slowly"; the usual answer otherwise."""
    message = next(m["content"] for m in reversed(request.body["messages"]) if isinstance(m["content"], str))
    if "slowly" in message:
        return reply(text(LONG), chunk_delay=0.08)
    return partial(answer, delay=0.3)(request)


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    with fake_claude(slow_or_quick) as claude:
        env = app_env(django_db_blocker, tmp_path_factory.mktemp("media"), claude=claude)
        with running_app(env, worker=False) as base:
            yield base


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def start_slow_reply(page):
    page.fill("#composer-text", "a harbour at dawn, slowly")
    page.press("#composer-text", "Enter")
    streaming = page.locator("article.message.assistant.pending")
    # The first reply of a fresh server takes a moment to start.
    expect(streaming.locator(".prose")).to_contain_text("word12", timeout=20_000)
    return streaming


def expect_stopped(page):
    stopped = page.locator("article.message.assistant.stopped")
    expect(stopped).to_be_visible(timeout=10_000)
    expect(stopped.locator(".stopped")).to_have_text("Stopped.")
    assert stopped.locator(".stopped").evaluate("el => getComputedStyle(el).color") != DANGER
    words = stopped.locator(".prose").inner_text()
    assert words.startswith("word0 word1 word2")
    assert "word399" not in words
    expect(stopped.locator("button", has_text="Stop")).to_have_count(0)
    expect(stopped.locator("section.option")).to_have_count(0)
    return words


def test_stop_keeps_the_words_so_far_says_stopped_and_the_composer_is_ready(page, app):
    sign_up(page, app, "stella")
    streaming = start_slow_reply(page)
    streaming.get_by_role("button", name="Stop").click()
    words = expect_stopped(page)
    expect(page.locator("#composer-text")).to_be_focused()

    # The words stay the same after a reload, and a new message is answered at once.
    page.reload()
    expect(page.locator("article.message.assistant.stopped .prose")).to_have_text(words)
    send(page, "a cinematic sunset over mountains")
    expect(page.locator("article.message.assistant").last).to_contain_text("three ways")


def test_escape_stops_the_reply_too(page, app):
    sign_up(page, app, "esme")
    start_slow_reply(page)
    # Esc stops even while the person is writing their next message, which stays.
    page.locator("#composer-text").click()
    page.keyboard.type("next idea")
    page.keyboard.press("Escape")
    expect_stopped(page)
    expect(page.locator("#composer-text")).to_have_value("next idea")
    expect(page.locator("#composer button[type=submit]")).to_be_enabled()


def test_edit_the_last_message_and_its_reply_is_written_anew(page, app):
    sign_up(page, app, "edith")
    send(page, "a cinematic sunset over mountains")
    old_reply_id = page.locator("article.message.assistant").last.get_attribute("id")
    mine = page.locator("article.message.user").last

    # Cancel puts everything back as it was.
    mine.get_by_text("Edit", exact=True).click()
    box = mine.get_by_label("Your message, to edit")
    expect(box).to_be_focused()
    expect(box).to_have_value("a cinematic sunset over mountains")
    box.fill("something else entirely")
    mine.get_by_role("button", name="Cancel").click()
    expect(box).to_be_hidden()
    expect(mine.locator(".prose")).to_have_text("a cinematic sunset over mountains")
    mine.get_by_text("Edit", exact=True).click()
    expect(box).to_have_value("a cinematic sunset over mountains")

    # An empty edit is refused in words, and the turn stays.
    box.fill("   ")
    mine.get_by_role("button", name="Send").click()
    expect(mine.locator(".error")).to_contain_text("an empty message cannot be sent")
    expect(page.locator(f"#{old_reply_id}")).to_be_visible()

    box.fill("a neon city street in the rain")
    box.press("Enter")
    expect(page.locator(f"#{old_reply_id}")).to_have_count(1)  # the same turn, its reply written anew
    new_reply = page.locator("article.message.assistant.complete").last
    expect(new_reply).to_contain_text("a neon city street in the rain")
    expect(page.locator("article.message.user")).to_have_count(1)
    expect(page.locator("article.message.user .prose")).to_have_text("a neon city street in the rain")
    expect(page.locator("article.message.assistant")).to_have_count(1)
    expect(page.locator("article.message.assistant")).not_to_contain_text("a cinematic sunset")
    expect(page.locator("h1.chat-title")).to_have_text("a neon city street in the rain")


def test_search_finds_a_word_only_in_a_reply_and_marks_it(page, app):
    sign_up(page, app, "serena")
    send(page, "a lighthouse in a storm")
    search = page.get_by_label("Search your chats")
    search.fill("its own look")
    results = page.locator("#chat-list")
    expect(results.locator("mark")).to_have_text("its own look")
    expect(results).to_contain_text("a lighthouse in a storm")

    search.fill("zebra")
    expect(results).to_have_text("No chats match “zebra”.")

    search.fill("")
    expect(results.locator("mark")).to_have_count(0)
    expect(results.get_by_role("link", name="a lighthouse in a storm")).to_be_visible()

    # Without waiting for scripts: Enter in the field opens the results page.
    search.fill("own look")
    search.press("Enter")
    page.wait_for_url(re.compile(r".*/chats/search/\?q=own\+look"))
    expect(page.get_by_role("heading", name="Chats matching “own look”")).to_be_visible()


def test_keyboard_shortcuts(page, app):
    sign_up(page, app, "kira")
    send(page, "a cinematic sunset over mountains")
    composer = page.locator("#composer-text")

    # "/" goes to the composer, without typing itself there.
    page.locator("h1.chat-title").click()
    page.keyboard.press("/")
    expect(composer).to_be_focused()
    expect(composer).to_have_value("")

    # In a field "?" is only a character; elsewhere it opens the help.
    page.keyboard.type("what?")
    expect(composer).to_have_value("what?")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.locator("h1.chat-title").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for words in ("New chat", "Write a message", "Stop the reply being written", "These shortcuts"):
        expect(dialog).to_contain_text(words)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Shift+Esc goes to the composer too; the sidebar's link opens the help.
    page.locator("h1.chat-title").click()
    page.keyboard.press("Shift+Escape")
    expect(composer).to_be_focused()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # Ctrl+Shift+O starts a new chat.
    page.locator("h1.chat-title").click()
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(re.compile(r".*/chats/new/$"))
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
