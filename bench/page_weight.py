"""What a first load of a chat page with 20 messages costs: bytes transferred and requests, in Chromium.

Starts uvicorn with production settings (DEBUG off, static files collected and compressed ahead
of time, as the Dockerfile serves them) on a throwaway SQLite database holding one person and a
chat of 20 messages (10 ideas and the offline recommender's replies), logs in, then opens the
chat page in a fresh browser context (empty cache) and counts every response: the page and its
CSS, JS and fonts, with content images (style previews, results) counted apart. Bytes are as
transferred (after the compression the server applied), headers excluded.

    .venv/bin/python bench/page_weight.py
"""

import os
import secrets
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_BYTES, TARGET_REQUESTS = 45 * 1024, 6
ORIGINAL = (242 * 1024, 17)  # the existing SPA's chat page, gzipped


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="page-weight-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "higgs_project.settings",
            "DATA_DIR": tmp,
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "LOG_LEVEL": "WARNING",
            "ANTHROPIC_API_KEY": "",
            # Production settings, served over plain http on loopback.
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "localhost",
            "SECURE_SSL_REDIRECT": "False",
            "STATIC_ROOT": f"{tmp}/static",
            "HIGGS_COLLECTING_STATIC": "1",
        }
        os.environ.update(env)
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        from bench.load import IDEAS
        from chats import services
        from chats.models import User
        from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
        catalogue_import(styles=styles, motions=motions)
        user = User.objects.create_user("weigher", password="a long harbour sunrise")
        chat = services.chat_create(owner=user, title="Twenty messages")
        for idea in IDEAS:
            services.message_post(chat=chat, text=idea)

        from higgs_project.testing import chromium_launch, start_web, stop

        web, base = start_web(env)
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = chromium_launch(p)
                login = browser.new_context()
                page = login.new_page()
                page.goto(f"{base}/accounts/login/")
                page.fill("input[name=username]", "weigher")
                page.fill("input[name=password]", "a long harbour sunrise")
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                cookies = login.cookies()
                login.close()

                context = browser.new_context()
                context.add_cookies(cookies)
                page = context.new_page()
                responses = []
                page.on("requestfinished", lambda request: responses.append(request))
                page.goto(f"{base}/chats/{chat.id}/", wait_until="networkidle")
                rows = []
                for request in responses:
                    sizes = request.sizes()
                    response = request.response()
                    kind = request.resource_type
                    rows.append(
                        (
                            kind,
                            request.url,
                            sizes["responseBodySize"],
                            response.status if response else 0,
                            (response.headers.get("content-encoding", "") if response else ""),
                        )
                    )
                browser.close()
        finally:
            stop(web)

    page_rows = [r for r in rows if r[0] in ("document", "stylesheet", "script", "font", "xhr", "fetch")]
    content = [r for r in rows if r not in page_rows]
    total = sum(r[2] for r in page_rows)
    print("First load of a chat page with 20 messages (fresh browser cache)\n")
    for kind, url, size, status, encoding in page_rows:
        print(f"  {kind:11} {size:>8,} B  {status}  {encoding or 'identity':8} {url.removeprefix(base)[:70]}")
    print(
        f"\npage, CSS, JS, fonts: {total:,} bytes in {len(page_rows)} requests "
        f"(target under {TARGET_BYTES:,} bytes and at most {TARGET_REQUESTS}; "
        f"the existing SPA: {ORIGINAL[0]:,} bytes in {ORIGINAL[1]})"
    )
    print(f"content images counted apart: {sum(r[2] for r in content):,} bytes in {len(content)} requests")
    met = total < TARGET_BYTES and len(page_rows) <= TARGET_REQUESTS
    print("targets met" if met else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
