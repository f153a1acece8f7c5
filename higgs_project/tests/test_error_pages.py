"""Whatever goes wrong, a person gets our own page with a way back and a client gets JSON: never a debug
page with URL patterns, settings or a traceback, even from a fresh clone's defaults."""

import os
import tempfile

import httpx
import pytest
from django.db import connection
from django.test import Client, RequestFactory

from higgs_project import errors
from higgs_project.testing import database_url, start_web

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_ours_with_a_way_back(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and "Back to your chats" in page
    assert "URLconf" not in page and "urlpatterns" not in page


def test_an_unknown_api_path_answers_json(client):
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is nothing here, or it is not yours."}


def test_a_crash_shows_our_page_without_a_traceback():
    request = RequestFactory().get("/chats/")
    response = errors.server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "Traceback" not in page
    api = errors.server_error(RequestFactory().get("/api/chats"))
    assert api.status_code == 500 and b"detail" in api.content


def test_a_csrf_failure_is_our_page(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/chats/new/", {})
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_fresh_clones_defaults_serve_no_debug_page():
    # The app as `make run` starts it: no DEBUG, no SECRET_KEY in the environment.
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    with tempfile.TemporaryDirectory() as data:
        env.update(DATABASE_URL=database_url(connection), DATA_DIR=data, SECURE_HTTPS="0")
        web, base = start_web(env)
        try:
            missing = httpx.get(f"{base}/no/such/page/")
            traversal = httpx.get(f"{base}/media/%2e%2e/db.sqlite3")
        finally:
            web.kill()
            web.wait()
        assert os.path.isfile(os.path.join(data, "secret_key"))
    assert missing.status_code == 404
    assert "Back to your chats" in missing.text and "URLconf" not in missing.text
    assert traversal.status_code in (400, 404)
    assert "Traceback" not in traversal.text and "SECRET" not in traversal.text and "REDIS_URL" not in traversal.text
