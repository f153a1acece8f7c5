"""Production settings pass Django's deployment checklist, and refuse to start without a secret."""

import os
import subprocess
import sys

from django.conf import settings

PROD_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-real-secret-key-for-the-check-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "higgs.example.com",
}


def run_manage(*args, env, tmp_path):
    full_env = {k: v for k, v in os.environ.items() if k not in PROD_ENV and k not in ("SECURE_HTTPS", "DATA_DIR")}
    # The checks may open the database: give them one of their own.
    full_env.update(env, DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_secret_key_one_is_made_once_and_kept_private(tmp_path):
    show = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"
    env = {"DATA_DIR": str(tmp_path / "data")}
    first = run_manage("shell", "-c", show, env=env, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    key, debug = first.stdout.split()[-2:]
    assert debug == "False"
    assert len(key) >= 50 and key != settings.DEV_SECRET_KEY
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
    again = run_manage("shell", "-c", show, env=env, tmp_path=tmp_path)
    assert again.stdout.split()[-2] == key


def test_the_repositorys_development_key_is_refused(tmp_path):
    result = run_manage("check", env={"SECRET_KEY": settings.DEV_SECRET_KEY}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "public development key" in result.stderr


def test_with_s3_the_pages_may_put_uploads_to_the_bucket_and_nowhere_else(tmp_path):
    show = "from django.conf import settings; print(' '.join(map(str, settings.SECURE_CSP['connect-src'])))"
    s3 = {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_S3_ENDPOINT_URL": "https://s3.example.net:9000/"}
    result = run_manage("shell", "-c", show, env=s3, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "'self' https://s3.example.net:9000"
    result = run_manage("shell", "-c", show, env={}, tmp_path=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "'self'"
