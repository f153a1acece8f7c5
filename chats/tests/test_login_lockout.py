"""The lock-out after failed log-ins holds for every spelling of a name, for attempts sent at once, on the
admin's log-in too, across web processes, per client address; a right password clears the name."""

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client

from higgs_project.testing import at_once, database_url

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOCKED = "Too many failed log-ins. Wait 15 minutes and try again, or ask for help."
WRONG = "Please enter a correct username and password."
WRONG_STAFF = "Please enter the correct username and password for a staff account."


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts the passwords it checks, slowed a little so that attempts sent at once overlap."""

    algorithm = "counting_md5"
    checks = []
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with self._lock:
            self.checks.append(password)
        time.sleep(0.3)
        return super().verify(password, encoded)


def log_in(client, username, password, *, path="/accounts/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def page(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def is_logged_in(client) -> bool:
    return client.get("/").status_code == 200


@pytest.fixture
def sam(db):
    return get_user_model().objects.create_user(username="sam", password=PASSWORD, is_staff=True)


@pytest.fixture
def limit_3(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 900


def test_other_spellings_of_a_locked_name_are_locked_too(alice, limit_3):
    for _ in range(3):
        assert WRONG in page(log_in(Client(), "alice", "wrong"))
    for spelling in ["ａｌｉｃｅ", "ALICE", " Alice "]:
        client = Client()
        assert LOCKED in page(log_in(client, spelling, PASSWORD)), spelling
        assert not is_logged_in(client)


@pytest.mark.django_db(transaction=True)
def test_attempts_sent_at_once_check_no_more_passwords_than_the_limit(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    alice.set_password(PASSWORD)
    alice.save()
    CountingHasher.checks.clear()

    responses, errors = at_once(20, lambda n: page(log_in(Client(), "alice", f"wrong {n}")))

    assert errors == []
    assert len(responses) == 20
    assert all(WRONG in text or LOCKED in text for text in responses)
    assert len(CountingHasher.checks) <= 5
    client = Client()
    assert LOCKED in page(log_in(client, "alice", PASSWORD))
    assert not is_logged_in(client)
    assert PASSWORD not in CountingHasher.checks


def test_the_admin_log_in_locks_a_staff_account_after_the_limit(sam, limit_3):
    for _ in range(3):
        assert WRONG_STAFF in page(log_in(Client(), "sam", "wrong", path="/admin/login/"))
    client = Client()
    assert LOCKED in page(log_in(client, "sam", PASSWORD, path="/admin/login/"))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("earned_on", "refused_on"), [("/accounts/login/", "/admin/login/"), ("/admin/login/", "/accounts/login/")]
)
def test_a_lock_out_earned_on_one_log_in_holds_on_the_other(sam, limit_3, earned_on, refused_on):
    for _ in range(3):
        log_in(Client(), "sam", "wrong", path=earned_on)
    client = Client()
    assert LOCKED in page(log_in(client, "sam", PASSWORD, path=refused_on))
    assert client.get("/admin/").status_code == 302


# Runs in another process: failed log-ins through the log-in form, as another web process would see them.
OTHER_PROCESS = """
from django.test import RequestFactory
from chats.forms import LoginForm
request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="198.51.100.9")
for n in range(3):
    form = LoginForm(request, data={"username": "alice", "password": f"wrong {n}"})
    assert not form.is_valid(), form.errors
"""


@pytest.mark.django_db(transaction=True)
def test_failures_in_another_process_count_here(alice, limit_3):
    env = {**os.environ, "DATABASE_URL": database_url(connection), "LOGIN_FAILURE_LIMIT": "3", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", OTHER_PROCESS],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    client = Client()
    assert LOCKED in page(log_in(client, "alice", PASSWORD))
    assert not is_logged_in(client)


def test_many_names_from_one_address_lock_that_address_out(alice, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    for name in ["bob", "carol", "dave", "erin"]:
        assert WRONG in page(log_in(Client(), name, "wrong", REMOTE_ADDR="203.0.113.7"))
    assert LOCKED in page(log_in(Client(), "alice", PASSWORD, REMOTE_ADDR="203.0.113.7"))
    # Alice herself, from elsewhere, is not locked out.
    client = Client()
    assert log_in(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 302
    assert is_logged_in(client)


def test_addresses_in_one_ipv6_slash_64_share_a_count(alice, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    for n, name in enumerate(["bob", "carol", "dave", "erin"], start=1):
        log_in(Client(), name, "wrong", REMOTE_ADDR=f"2001:db8:1:2::{n}")
    assert LOCKED in page(log_in(Client(), "alice", PASSWORD, REMOTE_ADDR="2001:db8:1:2:ffff::9"))
    assert log_in(Client(), "alice", PASSWORD, REMOTE_ADDR="2001:db8:1:3::1").status_code == 302


def test_a_log_in_clears_the_count_of_every_spelling_of_the_name(alice, limit_3):
    for _ in range(2):
        log_in(Client(), "alice", "wrong")
    assert log_in(Client(), "ａｌｉｃｅ", PASSWORD).status_code == 302
    for _ in range(2):
        assert WRONG in page(log_in(Client(), "alice", "wrong"))
    client = Client()
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_a_lock_out_ends_when_the_window_has_passed_and_old_failures_are_removed(alice, limit_3):
    from chats.models import LoginFailure

    for _ in range(3):
        log_in(Client(), "alice", "wrong")
    assert LOCKED in page(log_in(Client(), "alice", PASSWORD))
    # Only keyed hashes are stored, never the name.
    assert not LoginFailure.objects.filter(name_hash__icontains="alice").exists()

    LoginFailure.objects.update(created_at=LoginFailure.objects.first().created_at - timedelta(seconds=901))
    log_in(Client(), "bob", "wrong")  # any attempt sweeps the old rows away
    assert LoginFailure.objects.count() == 1
    client = Client()
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert is_logged_in(client)
