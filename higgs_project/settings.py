"""Settings for Higgs, read from the environment (or a `.env` file) through django-environ.

Every setting is documented in `.env.example` and docs/operations.md. The defaults are the
embedded ones: SQLite and media files under DATA_DIR, the database task queue, the
offline recommender. Safe by default: DEBUG is off unless DEBUG=1, and without a SECRET_KEY a random
one is made once and kept under DATA_DIR. Production sets SECRET_KEY and ALLOWED_HOSTS.
"""

import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")


def _secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file NAME_FILE names (its contents, stripped), as Docker and
    Kubernetes secrets are mounted. Both at once is a mistake worth stopping for: which would win?"""
    path = os.environ.get(f"{name}_FILE", "")
    if not path:
        return env.str(name, default=default)
    if os.environ.get(name, ""):
        raise ImproperlyConfigured(f"Both {name} and {name}_FILE are set: set only one of them.")
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE names a file that cannot be read ({exc.strerror}).") from None


# The key earlier versions shipped for development: public, so it signs nothing anywhere.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789abcdef"

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = BASE_DIR / env.str("DATA_DIR", default="data")


def _local_secret_key(path: Path) -> str:
    """This installation's own key: made once (random, readable by its owner only) and kept in DATA_DIR.

    Several web processes of one machine share it; machines that share a database must set SECRET_KEY.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()  # another process made it first
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(50))
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret("SECRET_KEY") or _local_secret_key(DATA_DIR / "secret_key")
if SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the public development key from the repository: set your own.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "higgs_project.errors.csrf_failure"
# Served over HTTPS (behind a TLS proxy): redirects, HSTS and secure cookies. `make run` serves plain HTTP on
# your machine and turns it off (SECURE_HTTPS=0).
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_htmx",
    "django_tasks_db",
    "ninja",
    "chats",
    "recommender",
    "generation",
]

MIDDLEWARE = [
    # First, so that every answer (CORS preflights and redirects included) carries X-Request-ID.
    "higgs_project.observability.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "higgs_project.middleware.CompressPagesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "higgs_project.urls"
WSGI_APPLICATION = "higgs_project.wsgi.application"
ASGI_APPLICATION = "higgs_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "generation.context_processors.credits",
            ],
        },
    },
]

# The compiled reads (higgs_project.database.Read: the hot API reads, a reply's reads) are prepared on each
# PostgreSQL connection, with one plan for every value (PostgreSQL then skips parsing and planning them: the
# taste's read plans in 2 ms and runs in 0.2 ms). Only they are: Django's own statements bind on the client.
# Off for a pooler in transaction mode that cannot carry prepared statements (PgBouncer before 1.21).
DATABASE_PREPARED_READS = env.bool("DATABASE_PREPARED_READS", default=True)

# Database: SQLite under DATA_DIR unless DATABASE_URL says otherwise.
DATABASES = {"default": env.db_url_config(_secret("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait
    # for each other (up to the timeout) instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so that tests with several threads see real locking; one per
    # test process, so that two test runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"higgs-test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASE_PREPARED_READS:
        # A prepared read's plan is made once, not for each call's values (its first five, by default): the
        # compiled reads look rows up by id, owner or chat, where one plan fits every value. This setting
        # changes nothing for the statements Django binds on the client, which are never prepared.
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
    # Under ASGI each request runs in a thread of its own, so without a pool every request opens a new
    # PostgreSQL connection (about 10 ms). A pool per process hands them out again; checked on checkout,
    # so connections a database restart broke are replaced instead of failing a request (the check asks the
    # server only when it has written to the connection: see higgs_project.database).
    if DATABASE_POOL_MAX_SIZE := env.int("DATABASE_POOL_MAX_SIZE", default=0):
        from higgs_project.database import pooled_connection_check

        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            # Opened at start, so that the first burst of requests does not wait for connections made one by one.
            "min_size": min(DATABASE_POOL_MAX_SIZE, env.int("DATABASE_POOL_MIN_SIZE", default=4)),
            "max_size": DATABASE_POOL_MAX_SIZE,
            # How long a step waits for a free connection before it fails.
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
            "check": pooled_connection_check,
        }
# The hot API reads (chat list, messages, a generation) under the ASGI server read PostgreSQL from the event
# loop, on a pool of this many connections per process (0: in the request's thread, like the rest).
DATABASE_ASYNC_POOL_MAX_SIZE = env.int("DATABASE_ASYNC_POOL_MAX_SIZE", default=8)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "chats.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files are served by ServeStatic (whitenoise's fork with native async support).
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Collected and compressed ahead (`make run`, `make test` and the Dockerfile run collectstatic), static files
# are served from STATIC_ROOT with hashed names; before that (or with DEBUG) straight from the apps' folders.
STATIC_COLLECTED = not DEBUG and (STATIC_ROOT / "staticfiles.json").is_file()
SERVESTATIC_USE_FINDERS = not STATIC_COLLECTED
SERVESTATIC_AUTOREFRESH = DEBUG
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None,
            "querystring_auth": not env.bool("AWS_S3_PUBLIC_URLS", default=False),
            "querystring_expire": env.int("AWS_S3_URL_EXPIRY", default=3600),
            "file_overwrite": False,
            # Presigned uploads limited to the declared Content-Type need SigV4 (it signs that header).
            "signature_version": "s3v4",
        },
    }
    # Left empty, boto3 finds credentials itself (the environment, an instance role); *_FILE needs handing over.
    for _option, _name in (("access_key", "AWS_ACCESS_KEY_ID"), ("secret_key", "AWS_SECRET_ACCESS_KEY")):
        if _value := _secret(_name):
            _default_storage["OPTIONS"][_option] = _value
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Uploads (chats.uploads): the largest file accepted, how long a presigned upload URL stays valid
# (seconds), and how long an upload may wait to be sent with a message before the clean-up removes it.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
UPLOAD_URL_EXPIRY = env.int("UPLOAD_URL_EXPIRY", default=900)
UPLOAD_UNATTACHED_SECONDS = env.int("UPLOAD_UNATTACHED_SECONDS", default=24 * 3600)
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "higgs_project.static_storage.MinifiedStaticFilesStorage"
        # HIGGS_COLLECTING_STATIC=1 while collectstatic runs, so that it writes the manifest.
        if STATIC_COLLECTED or os.environ.get("HIGGS_COLLECTING_STATIC")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Background work: Django's tasks API on the database queue (worker: manage.py db_worker).
TASKS = {"default": {"BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")}}
# Task loops per worker process (`manage.py run_worker`); the tasks mostly wait on the network.
WORKER_THREADS = env.int("WORKER_THREADS", default=4)
# /api/health/ready answers 503 when the oldest task due has waited longer than this (seconds), or when
# more tasks than this are due at once: the workers are down or cannot keep up.
READY_QUEUE_MAX_AGE = env.int("READY_QUEUE_MAX_AGE", default=300)
READY_QUEUE_MAX_BACKLOG = env.int("READY_QUEUE_MAX_BACKLOG", default=1000)

# The JSON API.
CORS_ALLOWED_ORIGINS = env.list(
    "CORS_ALLOWED_ORIGINS", default=[] if SECURE_HTTPS else ["http://localhost:3000", "http://127.0.0.1:3000"]
)
CORS_URLS_REGEX = r"^/(api|media)/.*$"
CORS_ALLOW_CREDENTIALS = False
# A client on another origin reads how long to wait after a 429.
CORS_EXPOSE_HEADERS = ["Retry-After"]
# When set, API calls without credentials act as this user (created if missing). For a
# local demo of the external frontend only: leave it unset or empty anywhere else.
API_ANONYMOUS_USER = env.str("API_ANONYMOUS_USER", default="")
# How long a web process may keep a bearer token it has found, to spare the lookup on the calls that
# follow; a token revoked (or a person deactivated) in another process stops working within this time.
# 0 looks every token up every time.
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=5.0)
# The model of API tokens (key_hash, last_used_at, user), found by name so that the API plumbing imports no app.
API_TOKEN_MODEL = "chats.ApiToken"
# Tasks the worker enqueues once an hour (by path: the worker, in generation, imports no other app's tasks).
WORKER_HOURLY_TASKS = ["chats.tasks.uploads_cleanup"]
API_PAGE_MAX_LIMIT = env.int("API_PAGE_MAX_LIMIT", default=100)
# Absolute URLs of media are built from this when set, else from the request's host.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")

# The recommender: the Claude agent when ANTHROPIC_API_KEY is set, the offline one otherwise.
ANTHROPIC_API_KEY = _secret("ANTHROPIC_API_KEY")
ANTHROPIC_MODEL = env.str("ANTHROPIC_MODEL", default="claude-haiku-5-5")
ANTHROPIC_MAX_TOKENS = env.int("ANTHROPIC_MAX_TOKENS", default=4096)
ANTHROPIC_TIMEOUT = env.float("ANTHROPIC_TIMEOUT", default=60.0)
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
ANTHROPIC_MAX_RETRIES = env.int("ANTHROPIC_MAX_RETRIES", default=3)
RECOMMENDER_MAX_TOOL_ROUNDS = env.int("RECOMMENDER_MAX_TOOL_ROUNDS", default=10)
# Earlier turns of a chat sent with a new message, in tokens (about 4 characters each).
RECOMMENDER_HISTORY_TOKENS = env.int("RECOMMENDER_HISTORY_TOKENS", default=1500)
# Replies a web process starts at once (chats.replies.reply_start): from a post's writes until its model call
# goes out; the others wait their turn, in the order they came.
REPLY_STARTS_AT_ONCE = env.int("REPLY_STARTS_AT_ONCE", default=1)
# A reply still pending after this many seconds was interrupted (a restart): it shows as failed.
RECOMMENDER_REPLY_STALE_SECONDS = env.int("RECOMMENDER_REPLY_STALE_SECONDS", default=180)

# Generation: Higgsfield when both keys are set, the local preview provider otherwise.
HIGGSFIELD_KEY_ID = _secret("HIGGSFIELD_KEY_ID")
HIGGSFIELD_KEY_SECRET = _secret("HIGGSFIELD_KEY_SECRET")
# The official SDKs moved to api.higgsfield.ai in 2026 (the docs still name platform.higgsfield.ai).
HIGGSFIELD_BASE_URL = env.str("HIGGSFIELD_BASE_URL", default="https://api.higgsfield.ai").rstrip("/")
# Higgsfield's published OpenAPI document, which `manage.py sync_models` reads the models from.
HIGGSFIELD_OPENAPI_URL = env.str("HIGGSFIELD_OPENAPI_URL", default="https://docs.higgsfield.ai/docs/openapi.json")
HIGGSFIELD_TIMEOUT = env.float("HIGGSFIELD_TIMEOUT", default=30.0)
# Outbound fetches (higgs_project.outbound) reach public addresses only; these hosts (`host` or `host:port`,
# as written in the URL) are allowed on private or loopback addresses too: fakes in tests, a private deployment.
OUTBOUND_ALLOW_HOSTS = env.list("OUTBOUND_ALLOW_HOSTS", default=[])
# Our requests queued or running at Higgsfield at once, across every process (the account's concurrency limit:
# Higgsfield's dashboard shows it). Jobs beyond it wait in our own line, fairly by person (generation.pool).
HIGGSFIELD_CONCURRENCY = env.int("HIGGSFIELD_CONCURRENCY", default=4)
# Capacity refusals in a row after which the pool keeps fewer requests at once (the real limit is lower than set),
# and the quiet time after which it grows back by one.
HIGGSFIELD_POOL_SHRINK_AFTER = env.int("HIGGSFIELD_POOL_SHRINK_AFTER", default=3)
HIGGSFIELD_POOL_REGROW_SECONDS = env.int("HIGGSFIELD_POOL_REGROW_SECONDS", default=600)
# The longest a job may wait in our line for a Higgsfield slot before it ends as timed out (refunded).
GENERATION_SLOT_WAIT_LIMIT = env.int("GENERATION_SLOT_WAIT_LIMIT", default=3600)
# Time limits per mode, in seconds: a job still running then ends as timed_out.
GENERATION_IMAGE_TIME_LIMIT = env.int("GENERATION_IMAGE_TIME_LIMIT", default=180)
GENERATION_VIDEO_TIME_LIMIT = env.int("GENERATION_VIDEO_TIME_LIMIT", default=1200)
# Polling backs off from the first interval to the last (seconds), with jitter: 2 s growing to 10 s, as
# Higgsfield's polling guide asks.
GENERATION_POLL_FIRST_SECONDS = env.float("GENERATION_POLL_FIRST_SECONDS", default=2.0)
GENERATION_POLL_MAX_SECONDS = env.float("GENERATION_POLL_MAX_SECONDS", default=10.0)
# With webhooks (PUBLIC_BASE_URL set), a slow safety poll still runs in case a delivery is lost.
GENERATION_WEBHOOK_POLL_SECONDS = env.float("GENERATION_WEBHOOK_POLL_SECONDS", default=30.0)
# How long POST /api/higgsfield/generate waits for the result before answering 202 with the job.
GENERATION_WAIT_SECONDS = env.float("GENERATION_WAIT_SECONDS", default=120.0)
# Largest result we copy into our storage.
GENERATION_RESULT_MAX_BYTES = env.int("GENERATION_RESULT_MAX_BYTES", default=200 * 1024 * 1024)
# The worker's watchdog: re-schedules tracking that a killed worker dropped, ends overdue jobs.
GENERATION_WATCHDOG_SECONDS = env.float("GENERATION_WATCHDOG_SECONDS", default=15.0)
# The local preview provider (no Higgsfield keys): its delays and its outcome, for demos.
PREVIEW_QUEUE_SECONDS = env.float("PREVIEW_QUEUE_SECONDS", default=1.0)
PREVIEW_WORK_SECONDS = env.float("PREVIEW_WORK_SECONDS", default=3.0)
# completed, failed or nsfw
PREVIEW_OUTCOME = env.str("PREVIEW_OUTCOME", default="completed")
# Make every Nth preview job fail (0: never), to show failures and retries.
PREVIEW_FAIL_EVERY = env.int("PREVIEW_FAIL_EVERY", default=0)

# Limits per person, counted in the database (so they hold across web processes): "30/minute"
# (second, minute, hour or day) or "30/60" (seconds). Empty or 0 turns a limit off. Past it, the API
# answers 429 with Retry-After and the pages say when to try again.
RATE_LIMIT_MESSAGES = env.str("RATE_LIMIT_MESSAGES", default="30/minute")
RATE_LIMIT_GENERATIONS = env.str("RATE_LIMIT_GENERATIONS", default="20/minute")
# Credits: every person starts with CREDITS_START; a generation costs its model's price and a job that
# ends without a result gives it back. GENERATION_PRICES=soul=2,kling-2-5=8 sets prices per model;
# `image` and `video` set the price of every image or video model not named (default 1 and 5); 0 is free.
CREDITS_START = env.int("CREDITS_START", default=100)
try:
    GENERATION_PRICES = {key: int(value) for key, value in env.dict("GENERATION_PRICES", default={}).items()}
except ValueError:
    raise ImproperlyConfigured("GENERATION_PRICES must look like soul=2,kling-2-5=8,image=1,video=5.") from None

# Production safety: on whenever the site is served over HTTPS (the default with DEBUG off).
if SECURE_HTTPS:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^api/health"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The browser pages (chats.views): Django's own auth views under /accounts/.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed log-ins per user name, and per client address (0: no limit per address), in a sliding window of
# LOGIN_LOCKOUT_SECONDS before a lock-out; counted in the database (chats.lockout), for the pages and admin.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)

# Django's Content Security Policy: scripts and styles only from our own static files (no
# inline scripts, styles or event handlers); media may come from S3 or Higgsfield's CDN.
if AWS_STORAGE_BUCKET_NAME:
    _endpoint = _default_storage["OPTIONS"]["endpoint_url"]
    _upload_origins = ["/".join(_endpoint.split("/")[:3])] if _endpoint else ["https://*.amazonaws.com"]
else:
    _upload_origins = []
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:", "https:"],
    "media-src": [CSP.SELF, "blob:", "https:"],
    # The composer PUTs an upload straight to the bucket when media lives on S3.
    "connect-src": [CSP.SELF, *_upload_origins],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Log lines: `json` writes one JSON object a line (time, level, logger, message, request_id, exc_info and
# any extra fields) for a log collector; `text` is for people at a terminal. Both mask secrets.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "higgs_project.observability.RequestIdFilter"}},
    "formatters": {
        "text": {
            "()": "higgs_project.observability.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_tag)s] %(message)s",
        },
        "json": {"()": "higgs_project.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own default handlers (its DEBUG console, runserver's request lines) would print lines
        # without our masking: its loggers lose them and pass their lines up to ours.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # One line per HTTP call to Claude is noise; failures are logged by recommender.agent.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# Redis task queue: TASKS_BACKEND=django_tasks_redis.RedisTaskBackend keeps tasks in Redis instead of
# the database; `manage.py run_worker` then runs that package's worker.
REDIS_URL = _secret("REDIS_URL", default="redis://127.0.0.1:6379/0")
if TASKS["default"]["BACKEND"] == "django_tasks_redis.RedisTaskBackend":
    # The app brings the Redis task admin pages (an unmanaged model, no table).
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_redis"]
    TASKS["default"]["OPTIONS"] = {"REDIS_URL": REDIS_URL}
