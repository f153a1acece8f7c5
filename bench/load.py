"""Load: the production stack (gunicorn with uvicorn workers, task workers, PostgreSQL) under reads, then mixed use.

Makes a fresh PostgreSQL database (dropped and created again), migrates, imports the real catalogue,
starts the fake Claude and the fake Higgsfield on loopback, then gunicorn as the Dockerfile runs it
(DEBUG off) and `manage.py run_worker`, pointed at the fakes.

- Phase 1, reads: `GET /api/chats?limit=10` from 20 connections with wrk (installed with apt-get when
  missing; else a Python load generator): requests/s, p50, p99, errors. Target: 450/s, p99 under 200 ms.
- Phase 2, mixed: 50 people, each with a token of their own, for 2 minutes: list chats, create chats,
  post messages (each waits for the fake Claude's reply), list messages, start generations from the
  reply's options and poll them. Then the database is counted: every posted message exists once with
  its reply, message counts match, every generation exists once and ends (none left running).

    .venv/bin/python bench/load.py [--phases read,mixed] [--duration 120] [--users 50] [--web-workers 2]
"""

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
READ_TARGET_RPS, READ_TARGET_P99_MS = 450, 200
IDEAS = [
    "a cinematic sunset over mountains",
    "a rainy street at night, neon reflections",
    "a red fox in fresh snow",
    "a lighthouse in a storm",
    "a bowl of ramen, overhead shot",
    "a sneaker on a turntable",
    "an astronaut in a sunflower field",
    "a cozy cabin at dusk",
    "a koi pond from above",
    "a neon diner at 2am",
]


# --- The stack: database, fakes, web server and workers as processes ---


def database_recreate(url: str) -> None:
    """Drop the database `url` names (closing its connections) and create it empty."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing an unusual database name: {name!r}")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def _endless_claude(model_seconds: float):
    """The fake Anthropic server answering every request with the scripted word-overlap model."""
    from bench.fake_model import answer
    from recommender.tests.fake_anthropic import FakeAnthropic

    class EndlessClaude(FakeAnthropic):
        def _next_step(self):
            return partial(answer, delay=model_seconds)

        def _record(self, record):
            # Thousands of 33 KB bodies would only fill memory: keep a count.
            with self._lock:
                self._requests.append(None)

    return EndlessClaude(api_key="load-key")


@dataclass
class Stack:
    """Everything a load or fault run needs, started in order and stopped in reverse."""

    database_url: str
    web_workers: int = 2
    job_workers: int = 1
    model_seconds: float = 1.0
    work_seconds: float = 3.0
    conn_max_age: int | None = None
    pool: int = 20
    wsgi: bool = False
    keep_alive: float | None = None
    access_log: bool = True
    extra_env: dict = field(default_factory=dict)
    tmp: str = ""
    env: dict = field(default_factory=dict)
    base: str = ""
    web: subprocess.Popen | None = None
    workers: list = field(default_factory=list)
    claude: object = None
    higgsfield: object = None

    def prepare(self) -> None:
        """A fresh database with the catalogue, this process set up as a client of it."""
        self.tmp = tempfile.mkdtemp(prefix="higgs-load-")
        database_recreate(self.database_url)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "higgs_project.settings",
            "DATABASE_URL": self.database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Plain http on loopback: no redirect to https.
            "SECURE_SSL_REDIRECT": "0",
            "DATA_DIR": self.tmp,
            "MEDIA_ROOT": f"{self.tmp}/media",
            "STATIC_ROOT": f"{self.tmp}/static",
            "HIGGS_COLLECTING_STATIC": "1",
            "LOG_LEVEL": "WARNING",
            "API_ANONYMOUS_USER": "",
            "ANTHROPIC_API_KEY": "load-key",
            "HIGGSFIELD_KEY_ID": "load-id",
            "HIGGSFIELD_KEY_SECRET": "load-secret",
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_POOL_MAX_SIZE": str(self.pool),
            # Enough credit for every generation the people start: the load measures the service, not a budget.
            "CREDITS_START": "1000000",
            **self.extra_env,
        }
        if self.conn_max_age is not None:
            self.env["DATABASE_CONN_MAX_AGE"] = str(self.conn_max_age)
        os.environ.update(self.env)
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from generation.catalogue import catalogue_import, catalogue_read_dir

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        styles, motions = catalogue_read_dir(settings.SEED_DATA_DIR)
        catalogue_import(styles=styles, motions=motions)

    def start(self) -> None:
        from generation.tests.fake_higgsfield import FakeHiggsfield
        from higgs_project.testing import free_port

        self.claude = _endless_claude(self.model_seconds).start()
        self.higgsfield = FakeHiggsfield(key_id="load-id", key_secret="load-secret", work_seconds=self.work_seconds)
        self.higgsfield.start()
        self.env["ANTHROPIC_BASE_URL"] = self.claude.url
        self.env["HIGGSFIELD_BASE_URL"] = self.higgsfield.url
        # The fake is on loopback: allowed by name (higgs_project.outbound).
        self.env["OUTBOUND_ALLOW_HOSTS"] = self.higgsfield.url.removeprefix("http://")
        # The checks in this process read the same settings.
        from django.conf import settings

        settings.ANTHROPIC_BASE_URL = self.claude.url
        settings.HIGGSFIELD_BASE_URL = self.higgsfield.url
        settings.OUTBOUND_ALLOW_HOSTS = [self.env["OUTBOUND_ALLOW_HOSTS"]]

        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [
            PY, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(self.web_workers),
        ]  # fmt: skip
        if self.wsgi:
            # For comparison only: streamed replies need ASGI.
            command += ["-k", "gthread", "--threads", "8", "higgs_project.wsgi:application"]
        else:
            command += ["-k", "uvicorn_worker.UvicornWorker", "higgs_project.asgi:application"]
        if self.keep_alive is not None:
            command += ["--keep-alive", f"{self.keep_alive:g}"]
        if self.access_log:
            command += ["--access-logfile", f"{self.tmp}/access.log"]
        # Logs go to files: the bench's own output is the report.
        self.web = subprocess.Popen(
            command, cwd=REPO_ROOT, env=self.env, stdout=self._log("web"), stderr=subprocess.STDOUT
        )
        self._wait_healthy()
        for _ in range(self.job_workers):
            self.start_worker()

    def start_worker(self) -> subprocess.Popen:
        worker = subprocess.Popen(
            [PY, "manage.py", "run_worker", "--interval", "0.2"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log("worker"),
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)
        return worker

    def _log(self, name: str):
        return open(f"{self.tmp}/{name}.log", "ab")  # noqa: SIM115 - the child process holds it

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = Path(self.tmp) / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _wait_healthy(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise SystemExit(f"gunicorn exited at start:\n{self.log_tail('web')}")
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn at {self.base} did not come up")

    def stop(self) -> None:
        from higgs_project.testing import stop

        running = [p for p in [self.web, *self.workers] if p is not None and p.poll() is None]
        stop(*running)
        for fake in (self.claude, self.higgsfield):
            if fake is not None:
                fake.stop()
        from django.db import connections

        connections.close_all()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def make_people(count: int, prefix: str) -> list[tuple[object, str]]:
    """`count` people, each with an API token: [(user, raw token)]."""
    from chats.models import User
    from chats.services import api_token_create

    people = []
    for i in range(count):
        user = User.objects.create(username=f"{prefix}-{i:03d}")
        people.append((user, api_token_create(user=user, name="load")[1]))
    return people


# --- Measuring ---


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class RouteStats:
    latencies: list = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    samples: list = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(what[:200])


class Recorder:
    def __init__(self):
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)

    async def call(self, client, route: str, method: str, url: str, expect: int, **kwargs):
        """One request, timed under `route`; the parsed JSON, or None on any error."""
        started = time.perf_counter()
        self.routes[route].requests += 1
        try:
            response = await client.request(method, url, **kwargs)
        except Exception as exc:  # a timeout or a dropped connection is an error of this route
            # How long this person's connection had been idle tells a keep-alive race from an overload.
            idle = started - getattr(client, "last_answer", started)
            self.routes[route].error(f"{type(exc).__name__} {exc} (connection idle {idle:.1f} s before)")
            return None
        client.last_answer = time.perf_counter()
        elapsed = client.last_answer - started
        stats = self.routes[route]
        stats.latencies.append(elapsed)
        if response.status_code != expect:
            stats.error(f"{response.status_code}: {response.text}")
            return None
        return response.json()

    def table(self) -> str:
        lines = [f"{'route':34}{'requests':>10}{'errors':>8}{'p50':>10}{'p99':>10}", "-" * 72]
        for route, s in sorted(self.routes.items()):
            lines.append(
                f"{route:34}{s.requests:>10}{s.errors:>8}{percentile(s.latencies, 0.5) * 1000:>8.0f}ms"
                f"{percentile(s.latencies, 0.99) * 1000:>8.0f}ms"
            )
            lines += [f"    {sample}" for sample in s.samples]
        return "\n".join(lines)


# --- Phase 1: reads ---


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(stack: Stack) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn workers and of the PostgreSQL backends serving our database."""
    from django.db import connection

    children = Path(f"/proc/{stack.web.pid}/task/{stack.web.pid}/children").read_text().split()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
    return {
        "web": {int(pid): _cpu_seconds(int(pid)) for pid in children},
        "postgres": {pid: _cpu_seconds(pid) for pid in backends},
    }


def cpu_used(before: dict, after: dict, name: str) -> float:
    return sum(cpu - before[name].get(pid, 0.0) for pid, cpu in after[name].items())


def _wrk_seconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk is missing: installing it with apt-get")
    for command in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"]):
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if shutil.which("wrk"):
            return shutil.which("wrk")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL, check=False)
    return shutil.which("wrk")


def read_with_wrk(wrk: str, url: str, token: str, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", "5s",
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in latency:
        raise SystemExit(f"wrk measured nothing:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "tool": "wrk",
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _wrk_seconds(latency["50"]),
        "p99": _wrk_seconds(latency["99"]),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


async def _read_with_python(url: str, token: str, connections: int, seconds: float) -> dict:
    import httpx

    latencies, errors = [], 0
    deadline = time.monotonic() + seconds

    async def one(client):
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get(url)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=5) as client:
        started = time.monotonic()
        await asyncio.gather(*(one(client) for _ in range(connections)))
        elapsed = time.monotonic() - started
    return {
        "tool": "python",
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "errors": errors,
    }


def phase_read(stack: Stack, args) -> bool:
    from chats.services import chat_create

    user, token = make_people(1, "reader")[0]
    for i in range(30):
        chat_create(owner=user, title=f"Chat number {i}")
    url = f"{stack.base}/api/chats?limit=10"
    # Others' work on the machine before we start: the figures below share the 2 cores with it.
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    wrk = ensure_wrk()
    # A short warm-up, so that imports and first connections are not measured.
    if wrk:
        read_with_wrk(wrk, url, token, args.read_connections, 3)
        before = cpu_snapshot(stack)
        result = read_with_wrk(wrk, url, token, args.read_connections, args.read_seconds)
    else:
        print("wrk is not available: the Python load generator measures instead (it competes for the CPU)")
        before = cpu_snapshot(stack)
        result = asyncio.run(_read_with_python(url, token, args.read_connections, args.read_seconds))
    after = cpu_snapshot(stack)
    # CPU per request does not depend on what else the machine runs: it says what 2 quiet cores could serve.
    web_ms = cpu_used(before, after, "web") / result["requests"] * 1000
    pg_ms = cpu_used(before, after, "postgres") / result["requests"] * 1000
    seconds = args.read_seconds
    shares = sorted((cpu - before["web"].get(pid, 0.0)) / seconds * 100 for pid, cpu in after["web"].items())
    server = "WSGI gthread" if args.wsgi else "uvicorn"
    met = result["rps"] >= READ_TARGET_RPS and result["p99"] * 1000 < READ_TARGET_P99_MS and not result["errors"]
    print(
        f"\nPhase 1, reads: GET /api/chats?limit=10, {args.read_connections} connections, {args.read_seconds:g} s "
        f"({result['tool']}, {args.web_workers} gunicorn {server} workers, pool {args.pool}, load average {load})\n"
        f"  {result['requests']} requests, {result['rps']:.0f} requests/s, p50 {result['p50'] * 1000:.1f} ms, "
        f"p99 {result['p99'] * 1000:.1f} ms, errors {result['errors']}\n"
        f"  CPU per request: web {web_ms:.2f} ms, PostgreSQL {pg_ms:.2f} ms"
        f"{'' if args.pool else ' (backends that ended during the run are not counted)'}; "
        f"each web process busy {', '.join(f'{share:.0f}%' for share in reversed(shares))} of a core; "
        f"2 cores would serve at most {2000 / (web_ms + pg_ms):.0f}/s before the load generator's share\n"
        f"  target {READ_TARGET_RPS}/s with p99 under {READ_TARGET_P99_MS} ms: {'met' if met else 'MISSED'}"
    )
    return met


# --- Phase 2: mixed use ---


@dataclass
class Person:
    token: str
    chats: list = field(default_factory=list)
    posted: list = field(default_factory=list)  # (chat id, text, reply id) of every 201
    options: list = field(default_factory=list)
    generations: dict = field(default_factory=dict)  # id -> last status seen
    failed_replies: int = 0


async def person_run(person: Person, base: str, recorder: Recorder, deadline: float, think: float) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {person.token}"}
    # Idle connections are dropped before gunicorn's 2 s keep-alive ends, as HTTP clients should: a request
    # sent on a connection the server is closing at that moment fails (a race, not an error of the app).
    limits = httpx.Limits(keepalive_expiry=1.5)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        chat = await recorder.call(client, "POST /api/chats", "POST", "/api/chats", 201, json={"title": None})
        if chat:
            person.chats.append(chat["id"])
        while time.monotonic() < deadline:
            await asyncio.sleep(random.expovariate(1 / think) if think else 0)
            actions = ["list_chats"] * 4 + ["list_messages"] * 3 + ["post"] * 2 + ["new_chat"]
            if person.options:
                actions += ["generate"] * 2
            if any(status not in FINAL for status in person.generations.values()):
                actions += ["poll"] * 3
            action = random.choice(actions)
            if not person.chats or action == "new_chat":
                chat = await recorder.call(client, "POST /api/chats", "POST", "/api/chats", 201, json={"title": None})
                if chat:
                    person.chats.append(chat["id"])
            elif action == "list_chats":
                await recorder.call(client, "GET /api/chats", "GET", "/api/chats?limit=10", 200)
            elif action == "list_messages":
                chat_id = random.choice(person.chats)
                url = f"/api/chats/{chat_id}/messages?limit=20"
                await recorder.call(client, "GET /api/chats/{id}/messages", "GET", url, 200)
            elif action == "post":
                chat_id = random.choice(person.chats)
                text = f"{random.choice(IDEAS)} #{uuid.uuid4().hex[:12]}"
                url = f"/api/chats/{chat_id}/messages"
                body = await recorder.call(
                    client, "POST /api/chats/{id}/messages", "POST", url, 201, json={"text": text}
                )
                if body:
                    reply = body["message"]
                    person.posted.append((chat_id, text, reply["id"]))
                    if reply["status"] != "complete":
                        person.failed_replies += 1
                    for chunk in reply.get("render_payload") or []:
                        if chunk.get("type") == "button" and chunk.get("option_id"):
                            person.options.append(chunk["option_id"])
            elif action == "generate":
                option_id = person.options.pop(random.randrange(len(person.options)))
                body = {"option_id": option_id}
                job = await recorder.call(client, "POST /api/generations", "POST", "/api/generations", 202, json=body)
                if job:
                    person.generations[job["id"]] = job["status"]
            elif action == "poll":
                generation_id = random.choice([g for g, s in person.generations.items() if s not in FINAL])
                url = f"/api/generations/{generation_id}"
                job = await recorder.call(client, "GET /api/generations/{id}", "GET", url, 200)
                if job:
                    person.generations[generation_id] = job["status"]


FINAL = {"completed", "failed", "nsfw", "cancelled", "timed_out"}


def mixed_checks(people: list, users: list, grace: float) -> list[tuple[str, bool, str]]:
    """Count what the database holds against what the people were answered."""
    from django.db.models import Count

    from chats.models import Chat, Message
    from generation.models import Generation

    checks = []
    owners = [u.pk for u in users]
    posted = [p for person in people for p in person.posted]
    messages = Message.objects.filter(chat__owner__in=owners)
    user_texts = dict(
        messages.filter(author_type="user")
        .values("content_text")
        .annotate(n=Count("id"))
        .values_list("content_text", "n")
    )
    missing = sum(1 for _, text, _ in posted if user_texts.get(text, 0) == 0)
    twice = sum(1 for _, text, _ in posted if user_texts.get(text, 0) > 1)
    checks.append(("every posted message saved exactly once", missing == 0 and twice == 0,
                   f"{len(posted)} posted, {missing} missing, {twice} duplicated"))  # fmt: skip
    reply_ids = {r for _, _, r in posted}
    replies = dict(Message.objects.filter(pk__in=reply_ids).values_list("pk", "status"))
    checks.append(("every reply saved", len(replies) == len(reply_ids),
                   f"{len(replies)} of {len(reply_ids)}"))  # fmt: skip
    total = messages.count()
    checks.append(("2 rows per post, nothing else", total == 2 * len(posted),
                   f"{total} messages for {len(posted)} posts"))  # fmt: skip
    mismatched = [
        c for c in Chat.objects.filter(owner__in=owners).annotate(n=Count("messages")) if c.n != c.message_count
    ]
    checks.append(("message_count matches every chat", not mismatched, f"{len(mismatched)} chats differ"))
    created = sum(len(person.chats) for person in people)
    chats = Chat.objects.filter(owner__in=owners).count()
    checks.append(("every chat created exists once", chats == created, f"{chats} chats, {created} created"))
    pending = messages.filter(status="pending").count()
    checks.append(("no reply left pending", pending == 0, f"{pending} pending"))

    requested = {g for person in people for g in person.generations}
    rows = Generation.objects.filter(owner__in=owners)
    deadline = time.monotonic() + grace
    while rows.filter(status__in=Generation.ACTIVE).exists() and time.monotonic() < deadline:
        time.sleep(1)
    found = set(rows.values_list("pk", flat=True))
    found = {str(g) for g in found}
    checks.append(("every generation requested exists once", found == requested,
                   f"{len(requested)} requested, {len(found)} rows"))  # fmt: skip
    by_status = dict(rows.values("status").annotate(n=Count("id")).values_list("status", "n"))
    active = sum(by_status.get(s, 0) for s in Generation.ACTIVE)
    checks.append((f"every generation ended within {grace:g} s", active == 0,
                   ", ".join(f"{s} {n}" for s, n in sorted(by_status.items())) or "none"))  # fmt: skip
    return checks


def phase_mixed(stack: Stack, args) -> bool:
    pairs = make_people(args.users, "person")
    people = [Person(token=token) for _, token in pairs]
    recorder = Recorder()

    async def everyone():
        deadline = time.monotonic() + args.duration
        await asyncio.gather(*(person_run(p, stack.base, recorder, deadline, args.think) for p in people))

    started = time.monotonic()
    asyncio.run(everyone())
    elapsed = time.monotonic() - started
    requests = sum(s.requests for s in recorder.routes.values())
    errors = sum(s.errors for s in recorder.routes.values())
    print(
        f"\nPhase 2, mixed: {args.users} people for {args.duration:g} s (think time {args.think:g} s), "
        f"fake Claude {args.model_seconds:g} s a call, fake Higgsfield {args.work_seconds:g} s a job\n"
        f"  {requests} requests in {elapsed:.0f} s ({requests / elapsed:.0f}/s), {errors} errors, "
        f"{sum(p.failed_replies for p in people)} failed replies\n"
    )
    print(recorder.table())
    checks = mixed_checks(people, [u for u, _ in pairs], grace=args.grace)
    print("\nchecks afterwards, in the database:")
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return errors == 0 and all(ok for _, ok, _ in checks) and not any(p.failed_replies for p in people)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/higgs_load",
                        help="PostgreSQL database to drop and create again")  # fmt: skip
    parser.add_argument("--phases", default="read,mixed")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--job-workers", type=int, default=1, help="`manage.py run_worker` processes")
    parser.add_argument("--conn-max-age", type=int, default=None, help="DATABASE_CONN_MAX_AGE for the app")
    parser.add_argument("--pool", type=int, default=20, help="DATABASE_POOL_MAX_SIZE for the app (0: no pool)")
    parser.add_argument("--wsgi", action="store_true", help="gunicorn's threaded WSGI worker, for comparison")
    parser.add_argument("--keep-alive", type=float, default=None, help="gunicorn's --keep-alive (default 2 s)")
    parser.add_argument("--no-access-log", action="store_true", help="gunicorn without its access log")
    parser.add_argument("--read-seconds", type=float, default=30)
    parser.add_argument("--read-connections", type=int, default=20)
    parser.add_argument("--duration", type=float, default=120, help="seconds of mixed use")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a person's requests (s)")
    parser.add_argument("--model-seconds", type=float, default=1.0, help="the fake Claude's time per call")
    parser.add_argument("--work-seconds", type=float, default=3.0, help="the fake Higgsfield's time per job")
    parser.add_argument("--grace", type=float, default=60, help="seconds for generations to end after the load")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the load bench runs on PostgreSQL (--database-url postgres://...)")

    stack = Stack(
        database_url=args.database_url,
        web_workers=args.web_workers,
        job_workers=args.job_workers,
        model_seconds=args.model_seconds,
        work_seconds=args.work_seconds,
        conn_max_age=args.conn_max_age,
        pool=args.pool,
        wsgi=args.wsgi,
        keep_alive=args.keep_alive,
        access_log=not args.no_access_log,
    )
    ok = True
    with stack:
        stack.prepare()
        stack.start()
        phases = args.phases.split(",")
        if "read" in phases:
            ok &= phase_read(stack, args)
        if "mixed" in phases:
            ok &= phase_mixed(stack, args)
        if not ok:
            for name in ("web", "worker"):
                print(f"\nlast lines of the {name} log:\n{stack.log_tail(name)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
