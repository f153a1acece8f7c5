"""Health, CORS for the external frontend, the docs page, and JSON errors everywhere."""

import re

import pytest
from django.db import connection
from django.test import Client

from higgs_project.testing import foreign_sources

pytestmark = pytest.mark.django_db

ORIGIN = "http://localhost:3000"


def test_health_answers_200_when_the_database_answers():
    response = Client().get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_health_answers_503_naming_the_database_when_it_does_not(monkeypatch):
    def refuse(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client().get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_the_frontends_preflight_passes_for_a_listed_origin(settings, method):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    response = Client().options(
        "/api/chats",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert method in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"].lower()


def test_the_preflight_fails_for_an_origin_not_listed(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    response = Client().options(
        "/api/chats",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "Access-Control-Allow-Origin" not in response


def test_error_answers_carry_the_cors_headers_too(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    settings.API_ANONYMOUS_USER = ""
    response = Client().get("/api/chats", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_an_unexpected_error_is_a_json_500_with_cors_and_no_internals(settings, alice_api, monkeypatch):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    from chats import selectors

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "chat_list", explode)
    response = alice_api.get("/api/chats", headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert "secret" not in response.content.decode()
    assert response.json()["detail"]
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_the_docs_page_uses_our_own_static_files():
    response = Client().get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    # Collected static files carry a hash in their names (swagger-ui-bundle.<hash>.js).
    assert re.search(r'src="/static/ninja/swagger-ui-bundle(\.[0-9a-f]{12})?\.js"', html)
    loaded, foreign = foreign_sources(html)
    assert len(loaded) >= 2 and not foreign, loaded


def test_the_openapi_schema_lists_the_contract_paths():
    paths = Client().get("/api/openapi.json").json()["paths"]
    for path in [
        "/api/chats",
        "/api/chats/{chat_id}",
        "/api/chats/{chat_id}/messages",
        "/api/messages/{message_id}/options",
        "/api/higgsfield/text2image/styles",
        "/api/higgsfield/image2video/motions",
        "/api/higgsfield/motions",
        "/api/health",
    ]:
        assert path in paths, path


def test_the_static_files_of_the_docs_page_are_served():
    response = Client().get("/static/ninja/swagger-ui-bundle.js")
    assert response.status_code == 200
