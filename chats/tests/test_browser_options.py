"""Option cards as a person sees them, in Debian's Chromium driven by Playwright: the price on the card and its
Generate button, Generate off with the reason when the balance cannot pay, the settings redrawn for another
model, a 9:16 request made at 9:16, a preview that cannot load giving way to its name, and the prompt's first
lines opening to the whole.

uvicorn and the worker run as separate processes on the test database, with the fake Claude and the local
preview provider (which never fails here). Each test saves a screenshot of its final page in
artifacts/screenshots/.
"""

import re
from functools import partial

import pytest
from django.contrib.auth import get_user_model

from bench.fake_model import answer
from chats.tests.test_browser import send, sign_up
from chats.tests.test_browser_feedback import generate, outside_the_page
from generation.credits import credits_adjust, credits_balance
from higgs_project.testing import app_env, browser_tab, fake_claude, running_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn and `manage.py run_worker` on the test database, with the fake Claude."""
    with fake_claude(partial(answer, delay=0.2)) as claude:
        env = app_env(django_db_blocker, tmp_path_factory.mktemp("media"), claude=claude)
        with running_app(env) as base:
            yield base


@pytest.fixture
def page(seed_catalogue, request):
    with browser_tab(request.node.name) as tab:
        # The catalogue's previews live on Higgsfield's CDN: here none can load, as on a bad connection.
        tab.route(re.compile(r"^https://cdn\.higgsfield\.ai/.*"), lambda route: route.abort())
        yield tab


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def set_balance(name: str, balance: int) -> None:
    def work():
        user = get_user_model().objects.get(username=name)
        credits_adjust(user=user, amount=balance - credits_balance(user=user), note="For the test")

    outside_the_page(work)


def test_each_card_and_its_generate_button_show_the_price(page, app):
    sign_up(page, app, "olga")
    send(page, "a cinematic sunset over mountains")
    options = page.locator("article.message.assistant").last.locator("section.option")
    expect(options).to_have_count(3)
    for n in range(3):
        option = options.nth(n)
        expect(option.locator(".option-facts")).to_contain_text("1 credit")
        expect(option.get_by_role("button", name="Generate · 1 credit")).to_be_enabled()


def test_a_person_short_of_credits_sees_generate_off_with_the_reason(page, app):
    sign_up(page, app, "pavel")
    set_balance("pavel", 1)
    send(page, "a cinematic sunset over mountains")
    options = page.locator("article.message.assistant").last.locator("section.option")
    expect(options.nth(1).get_by_role("button", name="Generate · 1 credit")).to_be_enabled()

    # The last credit goes on one card: the others say at once why they cannot be generated.
    generate(options.nth(0))
    expect(page.locator("#credits")).to_have_text("0 credits")
    button = options.nth(1).get_by_role("button", name="Generate · 1 credit")
    expect(button).to_be_disabled()
    expect(options.nth(1)).to_contain_text("Needs 1 credit; you have 0.")
    expect(options.nth(0).get_by_role("button", name=re.compile("^Another take"))).to_be_disabled()

    # And so after a reload; credits given back, the next load offers Generate again.
    page.reload()
    expect(button).to_be_disabled()
    expect(options.nth(2)).to_contain_text("Needs 1 credit; you have 0.")
    set_balance("pavel", 3)
    page.reload()
    expect(button).to_be_enabled()
    expect(options.nth(1)).not_to_contain_text("Needs 1 credit")


def test_another_model_redraws_the_settings_and_keeps_what_it_takes(page, app):
    sign_up(page, app, "quinn")
    send(page, "a cinematic sunset over mountains")
    option = page.locator("article.message.assistant").last.locator("section.option").first
    aspect = option.get_by_label("Aspect")
    expect(option.get_by_label("Model")).to_have_value("soul")
    expect(aspect).to_be_visible()
    aspect.select_option("21:9")

    # Reve has only a number of images: no aspect to pick. The model select keeps the focus through the redraw.
    option.get_by_label("Model").focus()
    option.get_by_label("Model").select_option(label="Reve")
    expect(option.get_by_label("Aspect")).to_have_count(0)
    expect(option.get_by_label("Images")).to_have_value("1")
    expect(option.get_by_label("Model")).to_be_focused()

    # Back to Soul; then Nano Banana, which takes 21:9 too and keeps it, with its own list of aspects.
    option.get_by_label("Model").select_option(label="Soul")
    expect(option.get_by_label("Resolution")).to_have_value("2K")
    option.get_by_label("Aspect").select_option("21:9")
    option.get_by_label("Model").select_option(label="Nano Banana")
    expect(option.get_by_label("Aspect")).to_have_value("21:9")
    expect(option.get_by_label("Aspect").locator("option", has_text="auto")).to_have_count(1)
    expect(option.get_by_label("Resolution")).to_have_count(0)
    expect(option.get_by_role("button", name="Generate · 1 credit")).to_be_enabled()


def test_a_vertical_request_is_preset_to_9_16_and_made_at_9_16(page, app):
    sign_up(page, app, "rosa")
    send(page, "a vertical 9:16 portrait of a lighthouse keeper")
    option = page.locator("article.message.assistant").last.locator("section.option").first
    expect(option.get_by_label("Aspect")).to_have_value("9:16")
    expect(option.locator(".option-facts")).to_contain_text("9:16")

    card = generate(option)
    card.get_by_text("How it was made").click()
    expect(card.locator(".made-with")).to_contain_text("aspect_ratio: 9:16")


def test_a_preview_that_cannot_load_gives_way_to_the_name(page, app):
    sign_up(page, app, "sara")
    send(page, "a cinematic sunset over mountains")
    option = page.locator("article.message.assistant").last.locator("section.option").first
    name = option.locator(".option-title").inner_text().split("·")[0].strip()
    placeholder = option.locator(".option-preview.placeholder")
    expect(placeholder).to_be_visible()
    expect(placeholder).to_have_text(name)
    expect(option.locator("img.option-preview")).to_be_hidden()

    # The same after a reload, where the image may fail before the page's script runs.
    page.reload()
    expect(placeholder).to_be_visible()
    expect(placeholder).to_have_text(name)


def test_the_prompt_shows_its_first_lines_and_opens_to_the_whole(page, app):
    sign_up(page, app, "tara")
    send(page, "a cinematic sunset over mountains")
    option = page.locator("article.message.assistant").last.locator("section.option").first
    start, prompt = option.locator(".prompt-start"), option.get_by_label("Prompt")
    expect(start).to_be_visible()
    expect(start).to_contain_text(re.compile(r"^a cinematic sunset over mountains", re.I))
    assert start.evaluate("e => e.scrollHeight > e.clientHeight + 2")  # the first lines of more
    expect(prompt).to_be_hidden()

    option.get_by_text("Show all and edit").click()
    expect(prompt).to_be_visible()
    expect(start).to_be_hidden()
    assert prompt.evaluate("t => t.scrollHeight <= t.clientHeight + 2")  # the whole of it in view

    # Still editable; the first lines follow the edit, and the edit is what is made.
    prompt.fill("a red kite over a grey sea")
    option.get_by_text("Show less").click()
    expect(start).to_have_text("a red kite over a grey sea")
    card = generate(option)
    card.get_by_text("How it was made").click()
    expect(card.locator(".made-with")).to_contain_text("a red kite over a grey sea")
