"""Account pages: sign up, log in (with failed log-ins limited), log out, password change."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def test_pages_need_a_login():
    for path in ["/", "/chats/new/", "/gallery/", "/accounts/password/"]:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next="), path


def test_sign_up_makes_an_account_and_logs_in():
    client = Client()
    assert client.get("/accounts/signup/").status_code == 200
    response = client.post(
        "/accounts/signup/", {"username": "carol", "password1": "a long river stone", "password2": "a long river stone"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_sign_up_refuses_weak_passwords_and_says_why():
    response = Client().post("/accounts/signup/", {"username": "carol", "password1": "12345", "password2": "12345"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "too short" in html
    assert "entirely numeric" in html


def test_sign_up_refuses_a_taken_username(alice):
    response = Client().post(
        "/accounts/signup/", {"username": "Alice", "password1": "a long river stone", "password2": "a long river stone"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_log_in_and_log_out(alice):
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_repeated_failed_log_ins_lock_the_username_for_a_while(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_a_success_resets_the_count(alice, bob, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status_code == 302


def test_password_change(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "another long phrase", "new_password2": "another long phrase"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another long phrase")


def test_account_forms_enforce_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 403
    assert client.post("/accounts/signup/", {"username": "x"}).status_code == 403
    client.force_login(alice)
    assert client.post("/accounts/logout/").status_code == 403
