"""Every page through axe-core (axe-playwright-python) in Debian's Chromium, in the light and the dark theme, and
the chat at phone width too: any finding of impact "serious" or "critical" fails, listed by rule, element and
advice. Each page and theme is saved as artifacts/screenshots/a11y-<page>-<theme>.png.

uvicorn and the worker run as separate processes on the test database, with the fake Claude and the local
preview provider, so that the chat shows a reply, its options and a finished result.
"""

import re
from functools import partial

import pytest
from django.template.loader import render_to_string

from bench.fake_model import answer
from chats.tests.test_browser import PASSWORD, send, sign_up
from higgs_project.testing import SHOTS, app_env, fake_claude, running_app

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMES = ("light", "dark")
FAILING = {"serious", "critical"}


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn and `manage.py run_worker` on the test database, with the fake Claude."""
    with fake_claude(partial(answer, delay=0.1), count=50) as claude:
        env = app_env(django_db_blocker, tmp_path_factory.mktemp("media"), claude=claude)
        with running_app(env) as base:
            yield base


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class Audit:
    """Runs axe over pages in both themes and gathers what it finds."""

    def __init__(self, page):
        from axe_playwright_python.sync_playwright import Axe

        self.page, self.axe, self.findings, self.audited = page, Axe(), [], []

    def __call__(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        for scheme in SCHEMES:
            self.page.emulate_media(color_scheme=scheme)
            # The theme changes no layout; one frame lets the new colours settle before axe reads them.
            self.page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            results = self.axe.run(self.page)
            for violation in results.response["violations"]:
                for node in violation["nodes"]:
                    impact = node.get("impact") or violation.get("impact")
                    if impact in FAILING:
                        self.findings.append(
                            f"{name} ({scheme}): {violation['id']} [{impact}] at {', '.join(map(str, node['target']))}"
                            f": {violation['help']}"
                        )
            self.page.screenshot(path=str(SHOTS / f"a11y-{name}-{scheme}.png"), full_page=True)
            self.audited.append(f"{name}-{scheme}")
        self.page.emulate_media(color_scheme="light")

    def assert_clean(self) -> None:
        assert self.findings == [], "axe found serious or critical problems:\n" + "\n".join(self.findings)


def test_the_pages_before_logging_in_have_no_serious_findings(page, app):
    audit = Audit(page)
    page.goto(f"{app}/accounts/login/")
    audit("login")
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.locator(".error").first.wait_for()
    audit("login-refused")
    page.goto(f"{app}/accounts/signup/")
    audit("signup")

    # A refused field is described by its error and its hint, so a screen reader says both with the field.
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD + " again")
    page.click("button[type=submit]")
    again = page.get_by_label("Password confirmation")
    expect(again).to_have_accessible_description(re.compile("Enter the same password as before.*didn.t match"))
    expect(page.get_by_label("Password", exact=True)).to_have_accessible_description(
        re.compile("at least 10 characters")
    )
    audit("signup-refused")

    page.goto(f"{app}/no-such-page/")
    audit("not-found-logged-out")

    # The page of a crash (a plain template, no context), shown on the site so that its stylesheet loads.
    page.set_content(render_to_string("500.html"))
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") != "rgba(0, 0, 0, 0)"
    audit("server-error")
    assert len(audit.audited) == 12
    audit.assert_clean()


def test_the_pages_of_a_signed_in_person_have_no_serious_findings(page, app):
    audit = Audit(page)
    sign_up(page, app, "ada")
    audit("home")

    send(page, "a cinematic sunset over mountains")
    chat_url = page.url
    option = page.locator("article.message.assistant").last.locator("section.option").first
    option.locator("button:has-text('Generate')").click()
    option.locator("article.generation.completed img.result").first.wait_for(timeout=30_000)
    audit("chat")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(chat_url)
    audit("chat-phone")
    page.get_by_role("button", name="Chats").click()
    page.locator("#chat-list").wait_for()
    audit("chat-phone-drawer")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{app}/chats/new/")
    audit("new-chat")
    page.goto(f"{app}/gallery/")
    page.locator("#gallery img").first.wait_for()
    audit("gallery")
    page.goto(f"{chat_url}rename/")
    audit("rename")
    page.goto(f"{chat_url}delete/")
    audit("delete")
    page.goto(f"{app}/accounts/password/")
    audit("password-change")
    page.fill("input[name=old_password]", "not it")
    page.fill("input[name=new_password1]", PASSWORD)
    page.fill("input[name=new_password2]", PASSWORD + " again")
    page.click("button[type=submit]")
    page.locator(".error").first.wait_for()
    audit("password-change-refused")
    page.goto(f"{app}/chats/search/?q=sunset")
    audit("search")
    page.goto(f"{app}/taste/")
    audit("taste")
    page.goto(f"{app}/chats/00000000-0000-0000-0000-000000000000/")
    audit("not-found")
    assert re.search(r"Not found", page.title())
    assert len(audit.audited) == 26
    audit.assert_clean()
