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
    full_env = {k: v for k, v in os.environ.items() if k not in PROD_ENV}
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


def test_debug_off_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_manage("check", env={"DEBUG": "0", "ALLOWED_HOSTS": "higgs.example.com"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_with_s3_the_pages_may_put_uploads_to_the_bucket_and_nowhere_else(tmp_path):
    show = "from django.conf import settings; print(' '.join(map(str, settings.SECURE_CSP['connect-src'])))"
    s3 = {"AWS_STORAGE_BUCKET_NAME": "media", "AWS_S3_ENDPOINT_URL": "https://s3.example.net:9000/"}
    result = run_manage("shell", "-c", show, env=s3, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "'self' https://s3.example.net:9000"
    result = run_manage("shell", "-c", show, env={}, tmp_path=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "'self'"
