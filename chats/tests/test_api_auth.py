"""Who an API call acts as: bearer tokens, session cookies (with CSRF), the optional demo user."""


import pytest
from django.core.management import call_command
from django.test import Client

from chats.models import ApiToken, Chat, User

pytestmark = pytest.mark.django_db


def test_a_call_without_credentials_is_a_401_with_a_json_body(anon_api):
    response = anon_api.get("/api/chats")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_wrong_token_is_a_401(alice):
    response = Client().get("/api/chats", headers={"Authorization": "Bearer hgs_not-a-real-token"})
    assert response.status_code == 401


def test_a_token_acts_as_its_user(alice, alice_api):
    chat = alice_api.post("/api/chats", {"title": "t"}).json()
    assert chat["user_id"] == str(alice.id)


def test_tokens_are_stored_hashed(alice_api):
    token = ApiToken.objects.get()
    assert alice_api.token not in (token.key_hash, token.prefix)
    assert len(token.key_hash) == 64


def test_a_token_of_a_deactivated_user_stops_working(alice, alice_api):
    assert alice_api.get("/api/chats").status_code == 200  # now remembered by this process
    alice.is_active = False
    alice.save()
    assert alice_api.get("/api/chats").status_code == 401


def test_a_revoked_token_stops_working_at_once(alice, alice_api):
    assert alice_api.get("/api/chats").status_code == 200
    ApiToken.objects.filter(user=alice).delete()
    assert alice_api.get("/api/chats").status_code == 401


def test_a_change_made_elsewhere_reaches_a_remembered_token_within_its_time(alice, alice_api, settings):
    """Another web process's change (no signal here) is seen once API_TOKEN_CACHE_SECONDS have passed."""
    settings.API_TOKEN_CACHE_SECONDS = 3600
    assert alice_api.get("/api/chats").status_code == 200
    User.objects.filter(pk=alice.pk).update(is_active=False)  # like another process: no signal
    assert alice_api.get("/api/chats").status_code == 200  # still remembered
    # Its time is over (the time shortened to none, rather than waited for): the token is read again, and refused.
    settings.API_TOKEN_CACHE_SECONDS = 0
    assert alice_api.get("/api/chats").status_code == 401


def test_the_command_prints_a_token_that_works(alice, capsys):
    call_command("create_api_token", "alice", "--name", "cli")
    raw = capsys.readouterr().out.strip()
    response = Client().get("/api/chats", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert ApiToken.objects.get().name == "cli"


def test_the_command_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "nobody")


def test_a_session_cookie_authenticates_reads(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/api/chats").status_code == 200


def test_a_session_post_without_the_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/chats", {"title": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Chat.objects.count() == 0


def test_a_session_post_with_the_csrf_token_passes(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/chats", {"title": "x"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_with_the_demo_setting_anonymous_calls_act_as_the_account_made_for_it(anon_api, settings):
    from django.core.management import call_command

    settings.API_ANONYMOUS_USER = "demo"
    call_command("create_anonymous_api_user", "demo")
    response = anon_api.post("/api/chats", {"title": "demo chat"})
    assert response.status_code == 201
    demo = User.objects.get(username="demo")
    assert response.json()["user_id"] == str(demo.id)
    assert not demo.has_usable_password()
    assert anon_api.get("/api/chats").json()["items"][0]["title"] == "demo chat"


def test_anonymous_calls_are_refused_unless_the_setting_is_given(anon_api, settings):
    settings.API_ANONYMOUS_USER = ""
    response = anon_api.get("/api/chats")
    assert response.status_code == 401


def test_the_demo_setting_never_adopts_an_existing_persons_account(anon_api, alice, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    chat = anon_api.__class__(token=None)  # the same anonymous caller
    settings.API_ANONYMOUS_USER = "alice"
    assert chat.get("/api/chats").status_code == 401
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_anonymous_api_user", "alice")
    assert anon_api.get("/api/chats").status_code == 401


def test_a_deactivated_demo_account_is_refused(anon_api, settings):
    from django.core.management import call_command

    settings.API_ANONYMOUS_USER = "demo"
    call_command("create_anonymous_api_user", "demo")
    assert anon_api.get("/api/chats").status_code == 200
    User.objects.filter(username="demo").update(is_active=False)
    assert anon_api.get("/api/chats").status_code == 401
    call_command("create_anonymous_api_user", "demo")  # run again by make run: it stays deactivated
    assert anon_api.get("/api/chats").status_code == 401


def test_an_empty_demo_setting_keeps_anonymous_calls_out(anon_api, settings):
    settings.API_ANONYMOUS_USER = ""
    assert anon_api.get("/api/chats").status_code == 401
    assert not User.objects.exists()


def test_a_wrong_token_does_not_fall_back_to_the_demo_user(settings, db):
    settings.API_ANONYMOUS_USER = "demo"
    response = Client().get("/api/chats", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
