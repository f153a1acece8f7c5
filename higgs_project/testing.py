"""The product as real processes, for the tests and benches that need a server on loopback, and what they read of it."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
from django.conf import settings
from django.db import connection

# Debian's Chromium for Playwright (its own browser download does not work everywhere); without the
# background-networking flags it keeps trying to reach the network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def foreign_sources(html: str) -> tuple[list[str], list[str]]:
    """The scripts and stylesheets (and other links) a page loads, and those of them from another origin: a page
    must load its code from our own static files, never from a CDN (`data:` links are inline)."""
    loaded = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html) + re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", html)
    return loaded, [url for url in loaded if not url.startswith(("/", "data:")) or url.startswith("//")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(connection) -> str:
    """A DATABASE_URL naming the database `connection` uses, for child processes."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def start_web(env: dict, *, port: int | None = None, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    """uvicorn serving the app with `env`; returns once /api/health answers 200."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "higgs_project.asgi:application",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
    )
    base = f"http://localhost:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the web server at {base} did not come up")


def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM, then a kill for any process still running after 10 seconds."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def at_once(count: int, work) -> tuple[list, list[Exception]]:
    """Calls work(n) for n in range(count), each in a thread of its own, released together.

    Returns what the calls returned and what they raised (each in the order they ended). Every thread
    closes its database connection, so that the test database can be dropped afterwards.
    """
    barrier = threading.Barrier(count)
    returned, raised = [], []

    def run(n):
        try:
            barrier.wait()
            returned.append(work(n))
        except Exception as exc:
            raised.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return returned, raised


# Where the browser tests save a screenshot of each test's last page.
SHOTS = settings.BASE_DIR / "artifacts" / "screenshots"


@contextmanager
def browser_tab(shot: str, *, width: int = 1280, height: int = 900):
    """A Chromium tab (Debian's browser, through Playwright); when done, its page is saved as
    artifacts/screenshots/<shot>.png, and any script error the page raised fails the test."""
    from playwright.sync_api import expect, sync_playwright

    # CI runs two suites at once on two cores: a page may answer seconds late, though never wrongly.
    expect.set_options(timeout=15_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = chromium_launch(p)
        # Reduced motion, as a person may set it: no smooth scroll still moving a button when it is clicked
        # (a click that lands on what scrolled under the pointer is lost).
        context = browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce")
        context.set_default_timeout(20_000)
        tab = context.new_page()
        errors = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        tab.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        browser.close()
        assert errors == [], errors


def start_worker(env: dict) -> subprocess.Popen:
    """`manage.py run_worker` with `env`, polling the queue often (for tests and benches)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.2"], cwd=settings.BASE_DIR, env=env
    )


# Jobs and polls quick enough for a browser test: the preview provider waits 1 s, fails none, polls often.
QUICK_JOBS = {
    "PREVIEW_QUEUE_SECONDS": "1",
    "PREVIEW_WORK_SECONDS": "1",
    "PREVIEW_FAIL_EVERY": "0",
    "GENERATION_POLL_FIRST_SECONDS": "0.3",
    "GENERATION_POLL_MAX_SECONDS": "0.5",
}


def app_env(django_db_blocker, media_root, *, claude=None, **overrides) -> dict:
    """The environment of a server on the test database: media in `media_root`, replies from the fake Claude
    `claude` (from the offline recommender when None), QUICK_JOBS, quiet logs, then `overrides`."""
    with django_db_blocker.unblock():
        url = database_url(connection)
    replies = (
        {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": claude.url} if claude else {"ANTHROPIC_API_KEY": ""}
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(media_root),
        **replies,
        **QUICK_JOBS,
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


@contextmanager
def running_app(env: dict, *, worker: bool = True):
    """uvicorn (and `manage.py run_worker` unless `worker` is False) with `env`; yields the base URL."""
    web, base = start_web(env)
    processes = [web, start_worker(env)] if worker else [web]
    try:
        yield base
    finally:
        stop(*processes)


@contextmanager
def fake_claude(step, *, count: int = 200):
    """Our fake Anthropic server on loopback, answering `count` calls with `step`."""
    from recommender.tests.fake_anthropic import FakeAnthropic

    claude = FakeAnthropic().start()
    claude.script(*[step] * count)
    try:
        yield claude
    finally:
        claude.stop()
