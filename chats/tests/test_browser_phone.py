"""The pages on a phone and in the dark, in Debian's Chromium driven by Playwright: at 390 px the chat list is a
drawer opened from the top bar (and closed by Escape, a tap outside or a chosen chat), the composer's pickers
share one row and nothing scrolls sideways; when the system prefers dark, the pages are dark.

uvicorn runs as a separate process on the test database, with the fake Claude. Each test saves a screenshot
of its final page in artifacts/screenshots/.
"""

from functools import partial

import pytest

from bench.fake_model import answer
from chats.tests.test_browser import send, sign_up
from higgs_project.testing import app_env, browser_tab, fake_claude, running_app

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn on the test database, with the fake Claude (nothing is generated here: no worker)."""
    with fake_claude(partial(answer, delay=0.1), count=50) as claude:
        env = app_env(django_db_blocker, tmp_path_factory.mktemp("media"), claude=claude)
        with running_app(env, worker=False) as base:
            yield base


@pytest.fixture
def phone(app, seed_catalogue, request):
    with browser_tab(request.node.name, **PHONE) as tab:
        yield tab


@pytest.fixture
def desktop(app, seed_catalogue, request):
    with browser_tab(request.node.name) as tab:
        yield tab


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_at_phone_width_the_chat_list_is_a_drawer(phone, app):
    page = phone
    sign_up(page, app, "nora")
    send(page, "a cinematic sunset over mountains")
    first_chat = page.url
    page.goto(f"{app}/chats/new/")
    send(page, "a lighthouse in a storm")

    chat_list, menu = page.locator("#chat-list"), page.get_by_role("button", name="Chats")
    expect(chat_list).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")

    # The menu button opens it over the chat, with focus on the chat shown; Escape closes it, focus goes back.
    menu.click()
    expect(chat_list).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#chat-list a[aria-current=page]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(chat_list).to_be_hidden()
    expect(menu).to_be_focused()
    expect(menu).to_have_attribute("aria-expanded", "false")

    # Tab stays inside the open drawer.
    menu.click()
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('#sidebar')")

    # A tap outside it (on the chat, behind the backdrop) closes it.
    page.mouse.click(375, 420)
    expect(chat_list).to_be_hidden()
    expect(page.locator("#composer-text")).to_have_value("")

    # The close button closes it too.
    menu.click()
    page.get_by_role("button", name="Close the chat list").click()
    expect(chat_list).to_be_hidden()
    expect(menu).to_be_focused()

    # Choosing a chat goes there, with the drawer closed.
    menu.click()
    page.locator("#chat-list a", has_text="sunset").click()
    page.wait_for_url(first_chat)
    expect(page.locator("article.message.user")).to_contain_text("a cinematic sunset over mountains")
    expect(chat_list).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    assert sideways_overflow(page) == 0


def test_at_phone_width_the_composer_pickers_share_one_row(phone, app):
    page = phone
    sign_up(page, app, "omar")
    attach, mode, model = (
        page.locator("label.file-button"),
        page.locator("#composer-mode"),
        page.locator("#composer-model"),
    )
    boxes = [attach.bounding_box(), mode.bounding_box(), model.bounding_box()]
    middles = [box["y"] + box["height"] / 2 for box in boxes]
    assert max(middles) - min(middles) < 4, boxes
    assert all(box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] for box in boxes), boxes
    expect(page.locator("label[for=composer-mode]")).to_be_visible()
    expect(page.locator("label[for=composer-model]")).to_be_visible()

    # Still usable: the pickers choose and the choice is seen.
    page.select_option("#composer-mode", label="Video from my image")
    expect(mode).to_have_value("image_to_video")
    assert sideways_overflow(page) == 0


def test_at_phone_width_nothing_scrolls_sideways(phone, app):
    page = phone
    for path in ("/accounts/login/", "/accounts/signup/"):
        page.goto(f"{app}{path}")
        assert sideways_overflow(page) == 0, path
    sign_up(page, app, "pia")
    send(page, "a neon city street in the rain, slow push-in, with a very long description " * 3)
    assert sideways_overflow(page) == 0, page.url
    page.goto(f"{app}/gallery/")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    assert sideways_overflow(page) == 0, page.url


def test_at_desktop_width_the_chat_list_stays_beside_the_chat(desktop, app):
    page = desktop
    sign_up(page, app, "quinn")
    send(page, "a cinematic sunset over mountains")
    expect(page.locator("#chat-list")).to_be_visible()
    expect(page.get_by_role("button", name="Chats")).to_be_hidden()
    sidebar, main = page.locator("#sidebar").bounding_box(), page.locator("#main").bounding_box()
    assert sidebar["x"] + sidebar["width"] <= main["x"]


def test_the_pages_are_dark_when_the_system_prefers_dark(desktop, app):
    page = desktop
    page.emulate_media(color_scheme="dark")
    page.goto(f"{app}/accounts/login/")
    assert luminance(page, "html", "background-color") < 0.1
    assert luminance(page, "h1", "color") > 0.7
    sign_up(page, app, "rosa")
    send(page, "a cinematic sunset over mountains")
    assert luminance(page, "html", "background-color") < 0.1
    assert luminance(page, ".message.user", "background-color") < 0.1
    assert luminance(page, "#composer-text", "background-color") < 0.1
    assert luminance(page, "#composer-text", "color") > 0.7

    # And light when it prefers light.
    page.emulate_media(color_scheme="light")
    assert luminance(page, "html", "background-color") > 0.9
    assert luminance(page, ".message.user", "background-color") > 0.7


def luminance(page, selector: str, prop: str) -> float:
    """The relative luminance (0 black to 1 white) of a computed colour of the first element matching selector."""
    value = page.locator(selector).first.evaluate(
        f"el => getComputedStyle(el)[{prop!r}.replace(/-./g, m => m[1].toUpperCase())]"
    )
    channels = [int(part) / 255 for part in value[value.index("(") + 1 : value.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
