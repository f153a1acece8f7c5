"""Load: the production stack (gunicorn with uvicorn workers, task workers, PostgreSQL) under reads, then mixed use.

Makes a fresh PostgreSQL database (dropped and created again), migrates, imports the catalogue snapshot,
starts the fake Claude and the fake Higgsfield on loopback, then gunicorn as the Dockerfile runs it
(DEBUG off) and `manage.py run_worker`, pointed at the fakes.

- `read`: `GET /api/chats?limit=10` of 50 chats from 20 connections with wrk (installed with apt-get when
  missing; else a Python load generator), `--read-runs` runs: requests/s, p50, p99, the slowest answer,
  answers over 500 ms, errors, and the CPU each request cost the web workers and PostgreSQL. Target in
  every run: 450/s, p99 at most 100 ms, no answer over 500 ms.
- `poll`: a running generation polled by the API (`GET /api/generations/{id}`, a client's card) and by the
  chat page's card (`GET /generations/{id}/` with the session cookie, as htmx does): the same figures.
- `replies`: `--users` people post a message at the same moment and wait for the reply, `--reply-rounds`
  rounds after one to warm up: our time over the fake Claude's `--model-seconds`, and over the fake's own time
  for each post's calls as it measured them (the figure judged: target p95 at most 50 ms), and when the model
  was called.
- `mixed`: 50 people, each with a token of their own, for 2 minutes: list chats, create chats,
  post messages (each waits for the fake Claude's reply), list messages, start generations from the
  reply's options and poll them. Then the database is counted: every posted message exists once with
  its reply, message counts match, every generation exists once and ends (none left running).

    .venv/bin/python bench/load.py [--phases read,poll,replies,mixed] [--read-runs 3] [--web-workers 2]
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
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
READ_TARGET_RPS, READ_TARGET_P99_MS = 450, 100
REPLY_TARGET_OVERHEAD_MS = 50
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


# What gunicorn serves: Higgs, or for the replies phase its floor (bench/null_reply.py).
APPS = {"higgs": "higgs_project.asgi:application", "null": "bench.null_reply:app"}


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


# Each post carries a token of its own ("#round-hex"), which the fake finds in the call it causes.
POST_TOKEN = re.compile(r"#\d+-[0-9a-f]{8}")


def _endless_claude(model_seconds: float, on_arrival=None, on_call=None):
    """The fake Anthropic server answering every request with the scripted word-overlap model; `on_arrival`
    gets the time.perf_counter() of each call as it arrives, `on_call` (post token, start, end) once it is
    answered: from the moment its request line was read to the last byte of its answer, the model's own time
    for that call, queueing in the fake's own process included."""
    from bench.fake_model import answer
    from recommender.tests import fake_anthropic
    from recommender.tests.fake_anthropic import FakeAnthropic

    # socketserver's listen queue of 5 drops the SYNs of 50 replies connecting at once (each retried after
    # 1 s, then 3 s): the fake would measure its own queue, not our service.
    fake_anthropic._Server.request_queue_size = 1024
    current = threading.local()

    class TimedHandler(fake_anthropic._Handler):
        def do_POST(self):
            started = time.perf_counter()
            current.token = None
            super().do_POST()
            if on_call is not None and current.token:
                on_call((current.token, started, time.perf_counter()))

    class EndlessClaude(FakeAnthropic):
        def _next_step(self):
            return partial(answer, delay=model_seconds)

        def _record(self, record):
            # Thousands of 33 KB bodies would only fill memory: keep a count, and when each call came.
            arrived = time.perf_counter()
            with self._lock:
                self._requests.append(None)
                self.arrivals.append(arrived)
            if on_arrival is not None:
                on_arrival(arrived)
            texts = [m["content"] for m in (record.body or {}).get("messages", []) if isinstance(m["content"], str)]
            found = POST_TOKEN.findall(texts[-1]) if texts else []
            current.token = found[-1] if found else None

        def start(self):
            super().start()
            self._httpd.RequestHandlerClass = TimedHandler
            return self

    claude = EndlessClaude(api_key="load-key")
    claude.arrivals = []
    return claude


def _claude_serve(model_seconds: float, urls, arrivals, calls) -> None:
    """The body of ClaudeProcess: serve until terminated."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "higgs_project.settings")
    django.setup()
    claude = _endless_claude(model_seconds, on_arrival=arrivals.put, on_call=calls.put).start()
    urls.put(claude.url)
    while True:
        time.sleep(3600)


class ClaudeProcess:
    """The endless fake Claude in a process of its own: Anthropic's servers do not share a Python interpreter
    (one GIL) with the bench's 50 clients, so neither does their stand-in. Every call's arrival time
    (time.perf_counter(), the same clock in every process here) comes back through a queue."""

    def __init__(self, model_seconds: float):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        urls, self._queue, self._calls_queue = context.Queue(), context.Queue(), context.Queue()
        self._process = context.Process(
            target=_claude_serve, args=(model_seconds, urls, self._queue, self._calls_queue), daemon=True
        )
        self._process.start()
        self.url = urls.get(timeout=120)
        self.pid = self._process.pid
        self._arrivals: list[float] = []
        self._model_seconds: dict[str, float] = defaultdict(float)

    @property
    def arrivals(self) -> list[float]:
        import queue

        while True:
            try:
                self._arrivals.append(self._queue.get_nowait())
            except queue.Empty:
                return self._arrivals

    def model_seconds(self, token: str) -> float | None:
        """The fake's own time for the calls of the post carrying `token` (two when an option was refused)."""
        import queue

        while True:
            try:
                found, started, ended = self._calls_queue.get_nowait()
            except queue.Empty:
                break
            self._model_seconds[found] += ended - started
        return self._model_seconds.get(token)

    @property
    def request_count(self) -> int:
        return len(self.arrivals)

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(10)


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
    reuse_port: bool = False
    access_log: bool = True
    app: str = "higgs"  # a key of APPS
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
        from django.core.management import call_command

        from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
        catalogue_import(styles=styles, motions=motions)

    def start(self) -> None:
        from generation.tests.fake_higgsfield import FakeHiggsfield
        from higgs_project.testing import free_port

        self.claude = ClaudeProcess(self.model_seconds)
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
            command += ["-k", "uvicorn_worker.UvicornWorker", APPS[self.app]]
        if self.keep_alive is not None:
            command += ["--keep-alive", f"{self.keep_alive:g}"]
        if self.reuse_port:
            command += ["--reuse-port"]
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


# wrk's summary lacks how many answers were slow: the share of answers under 500 ms, found by bisecting
# its percentiles, gives the count over it; and the slowest answer, in microseconds.
WRK_SLOW_SCRIPT = """
done = function(summary, latency, requests)
  local lo, hi = 0.0, 100.0
  for i = 1, 60 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) <= 500000 then lo = mid else hi = mid end
  end
  local answered = summary.requests - summary.errors.connect - summary.errors.read - summary.errors.timeout
  if latency.max <= 500000 then lo = 100.0 end
  local over = math.floor((100 - lo) / 100 * answered + 0.5)
  io.write(string.format("slow: max_us %d over_500ms %d\\n", latency.max, over))
end
"""


def read_with_wrk(wrk: str, url: str, headers: dict, connections: int, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SLOW_SCRIPT)
    try:
        out = subprocess.run(
            [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", "5s",
             "-s", script.name, *[arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")],
             url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    slow = re.search(r"slow: max_us (\d+) over_500ms (\d+)", out)
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
        "max": int(slow.group(1)) / 1e6 if slow else float("nan"),
        "over_500ms": int(slow.group(2)) if slow else -1,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


async def _read_with_python(url: str, headers: dict, connections: int, seconds: float) -> dict:
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
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=5) as client:
        started = time.monotonic()
        await asyncio.gather(*(one(client) for _ in range(connections)))
        elapsed = time.monotonic() - started
    return {
        "tool": "python",
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "over_500ms": sum(1 for t in latencies if t > 0.5),
        "errors": errors,
    }


def measure_reads(stack: Stack, wrk: str | None, url: str, headers: dict, connections: int, seconds: float) -> dict:
    """One run of reads of `url`: wrk's (or the Python generator's) figures, and the CPU each request cost the
    web workers and PostgreSQL (which does not depend on what else the machine runs)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    before = cpu_snapshot(stack)
    if wrk:
        result = read_with_wrk(wrk, url, headers, connections, seconds)
    else:
        result = asyncio.run(_read_with_python(url, headers, connections, seconds))
    after = cpu_snapshot(stack)
    result["load"] = load
    result["web_ms"] = cpu_used(before, after, "web") / result["requests"] * 1000
    result["pg_ms"] = cpu_used(before, after, "postgres") / result["requests"] * 1000
    result["shares"] = sorted(
        ((cpu - before["web"].get(pid, 0.0)) / seconds * 100 for pid, cpu in after["web"].items()), reverse=True
    )
    return result


def _reads_line(result: dict) -> str:
    return (
        f"{result['requests']} requests, {result['rps']:.0f} requests/s, p50 {result['p50'] * 1000:.1f} ms, "
        f"p99 {result['p99'] * 1000:.1f} ms, max {result['max'] * 1000:.0f} ms, over 500 ms {result['over_500ms']}, "
        f"errors {result['errors']}\n    CPU per request: web {result['web_ms']:.2f} ms, "
        f"PostgreSQL {result['pg_ms']:.2f} ms; each web process busy "
        f"{', '.join(f'{share:.0f}%' for share in result['shares'])} of a core"
    )


def _warm_wrk(url: str, headers: dict, connections: int):
    wrk = ensure_wrk()
    # A short warm-up, so that imports and first connections are not measured.
    if wrk:
        read_with_wrk(wrk, url, headers, connections, 3)
    else:
        print("wrk is not available: the Python load generator measures instead (it competes for the CPU)")
    return wrk


def phase_read(stack: Stack, args) -> bool:
    from chats.services import chat_create

    user, token = make_people(1, "reader")[0]
    for i in range(args.read_chats):
        chat_create(owner=user, title=f"Chat number {i}")
    url = f"{stack.base}/api/chats?limit=10"
    headers = {"Authorization": f"Bearer {token}"}
    wrk = _warm_wrk(url, headers, args.read_connections)
    server = "WSGI gthread" if args.wsgi else "uvicorn"
    print(
        f"\nPhase 1, reads: GET /api/chats?limit=10 of {args.read_chats} chats, {args.read_connections} connections, "
        f"{args.read_runs} runs of {args.read_seconds:g} s ({'wrk' if wrk else 'python'}, {args.web_workers} gunicorn "
        f"{server} workers, pool {args.pool}, access log {'off' if args.no_access_log else 'on'})"
    )
    met = True
    for run in range(1, args.read_runs + 1):
        result = measure_reads(stack, wrk, url, headers, args.read_connections, args.read_seconds)
        met &= (
            result["rps"] >= READ_TARGET_RPS
            and result["p99"] * 1000 <= READ_TARGET_P99_MS
            and not result["errors"]
            and result["over_500ms"] == 0
        )
        print(f"  run {run} (load average {result['load']}): {_reads_line(result)}")
    print(
        f"  target {READ_TARGET_RPS}/s, p99 at most {READ_TARGET_P99_MS} ms, no answer over 500 ms, in every run: "
        f"{'met' if met else 'MISSED'}"
    )
    return met


def _signed_in_cookie(user) -> str:
    """A session cookie of `user`, as signing in on the page makes it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _poll_state(generation) -> str:
    from generation.selectors import poll_state

    generation.refresh_from_db()
    return poll_state(status=generation.status, stage=generation.stage, updated_at=generation.updated_at)


def phase_poll(stack: Stack, args) -> bool:
    """A running generation polled, by the API (a client's card) and by the chat page's card (htmx, with the
    session cookie): what each poll costs the web workers and PostgreSQL."""
    from datetime import timedelta

    from django.utils import timezone

    from generation.models import Generation

    user, token = make_people(1, "poller")[0]
    user.set_password("a long enough password 1")
    user.save()
    # Running at Higgsfield as far as the page knows; no task tracks it, so it stays running while polled.
    generation = Generation.objects.create(
        owner=user,
        kind="text_to_image",
        model_key="soul",
        prompt="a lighthouse in a storm",
        status=Generation.Status.IN_PROGRESS,
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    routes = {
        "GET /api/generations/{id}": (
            f"{stack.base}/api/generations/{generation.pk}",
            {"Authorization": f"Bearer {token}"},
        ),
        "GET /generations/{id}/ (the page's card, drawn again)": (
            f"{stack.base}/generations/{generation.pk}/",
            {"Cookie": _signed_in_cookie(user), "HX-Request": "true"},
        ),
        # What the card polls while nothing it shows changes: its own token back, answered 204.
        "GET /generations/{id}/?seen=... (the page's card, no change)": (
            f"{stack.base}/generations/{generation.pk}/?seen={quote(_poll_state(generation))}",
            {"Cookie": _signed_in_cookie(user), "HX-Request": "true"},
        ),
    }
    print(f"\nPoll of a running generation: {args.read_connections} connections, {args.poll_seconds:g} s each")
    ok = True
    for route, (url, headers) in routes.items():
        wrk = _warm_wrk(url, headers, args.read_connections)
        result = measure_reads(stack, wrk, url, headers, args.read_connections, args.poll_seconds)
        ok &= not result["errors"]
        print(f"  {route} (load average {result['load']}): {_reads_line(result)}")
    generation.refresh_from_db()
    print(f"  the generation was {generation.status} at the end")
    return ok


def phase_replies(stack: Stack, args) -> bool:
    """`--users` people post a message at the same moment, each waiting for the reply (the fake Claude takes
    --model-seconds a call): our time over the model's own, per post."""
    import httpx

    pairs = make_people(args.users, "writer")

    async def post_all(round_number: int, clients, chats) -> list[float]:
        start = asyncio.Event()
        starts = []

        async def one(client, chat_id):
            await start.wait()
            started = time.perf_counter()
            starts.append(started)
            token = f"#{round_number}-{uuid.uuid4().hex[:8]}"
            response = await client.post(
                f"/api/chats/{chat_id}/messages", json={"text": f"{random.choice(IDEAS)} {token}"}
            )
            elapsed = time.perf_counter() - started
            ok = response.status_code == 201 and response.json()["message"]["status"] == "complete"
            return (elapsed if ok else None), token

        tasks = [asyncio.create_task(one(client, chat)) for client, chat in zip(clients, chats, strict=True)]
        await asyncio.sleep(0.2)
        first_call = len(stack.claude.arrivals)
        start.set()
        times = await asyncio.gather(*tasks)
        # When each call reached the model, after the posts were sent: our time before the model.
        waits = [arrival - min(starts) for arrival in stack.claude.arrivals[first_call:]]
        return times, waits

    # Each web worker's CPU over the rounds: clients keep their connections, so a worker serves the posts of
    # the connections it accepted, and the busier one sets the pace.
    by_worker: dict[int, float] = defaultdict(float)

    async def everyone():
        limits = httpx.Limits(keepalive_expiry=1.5)
        clients = [
            httpx.AsyncClient(base_url=stack.base, headers={"Authorization": f"Bearer {t}"}, timeout=60, limits=limits)
            for _, t in pairs
        ]
        try:
            chats = []
            for client in clients:
                chats.append((await client.post("/api/chats", json={"title": None})).json()["id"])
            rounds = []
            for number in range(args.reply_rounds + 1):  # the first warms the connections up, unmeasured
                calls = stack.claude.request_count
                before, bench_before = await asyncio.to_thread(cpu_snapshot, stack), time.process_time()
                claude_before = _cpu_seconds(stack.claude.pid)
                times, waits = await post_all(number, clients, chats)
                after, bench_after = await asyncio.to_thread(cpu_snapshot, stack), time.process_time()
                for pid, seconds in after["web"].items():
                    by_worker[pid] += seconds - before["web"].get(pid, 0.0)
                cpu = {
                    "web": cpu_used(before, after, "web"),
                    "postgres": cpu_used(before, after, "postgres"),
                    "bench": bench_after - bench_before,
                    "claude": _cpu_seconds(stack.claude.pid) - claude_before,
                }
                rounds.append((times, waits, stack.claude.request_count - calls, cpu))
                await asyncio.sleep(1.0)
            return rounds[1:]
        finally:
            for client in clients:
                await client.aclose()

    rounds = asyncio.run(everyone())
    print(
        f"\nReplies: {args.users} people post at the same moment and wait for the reply, {args.reply_rounds} rounds, "
        f"the fake Claude taking {args.model_seconds:g} s a call"
    )
    overheads, own_overheads, failed = [], [], 0
    cpu_total = {"web": 0.0, "postgres": 0.0, "bench": 0.0, "claude": 0.0}
    for number, (answers, waits, calls, cpu) in enumerate(rounds, 1):
        for name, seconds in cpu.items():
            cpu_total[name] += seconds
        times = [elapsed for elapsed, _ in answers]
        done = [t for t in times if t is not None]
        failed += len(times) - len(done)
        # Each post's share of the model's time: one call a post, unless an option was refused and asked again.
        model = args.model_seconds * calls / max(len(times), 1)
        overheads += [t - model for t in done]
        # The fake's own time for each post's calls, as it measured them: what the model took, its queue included.
        own_overheads += [
            elapsed - own
            for elapsed, token in answers
            if elapsed is not None and (own := stack.claude.model_seconds(token)) is not None
        ]
        print(
            f"  round {number}: {len(done)} replies, {len(times) - len(done)} failed, {calls} model calls; "
            f"answer p50 {percentile(done, 0.5) * 1000:.0f} ms, p95 {percentile(done, 0.95) * 1000:.0f} ms, "
            f"max {max(done, default=float('nan')) * 1000:.0f} ms; the model called after p50 "
            f"{percentile(waits, 0.5) * 1000:.0f} ms, p95 {percentile(waits, 0.95) * 1000:.0f} ms"
        )
    replies = max(len(overheads) + failed, 1)
    print(
        f"  CPU a reply: web {cpu_total['web'] / replies * 1000:.1f} ms, PostgreSQL "
        f"{cpu_total['postgres'] / replies * 1000:.1f} ms, the fake Claude "
        f"{cpu_total['claude'] / replies * 1000:.1f} ms, this bench's clients "
        f"{cpu_total['bench'] / replies * 1000:.1f} ms"
    )
    web_total = sum(by_worker.values()) or 1.0
    shares = sorted((seconds / web_total for seconds in by_worker.values()), reverse=True)
    print(f"  the web workers' shares of that CPU: {' / '.join(f'{share:.0%}' for share in shares)}")
    p95 = percentile(own_overheads, 0.95) * 1000
    met = not failed and len(own_overheads) == len(overheads) and p95 <= REPLY_TARGET_OVERHEAD_MS
    print(
        f"  our time over the model's {args.model_seconds:g} s: p50 {percentile(overheads, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(overheads, 0.95) * 1000:.0f} ms, max {max(overheads, default=float('nan')) * 1000:.0f} ms"
    )
    print(
        f"  our time over the model's own time for each post's calls (as the fake measured them, its own queue "
        f"included; {len(own_overheads)} of {len(overheads)} matched): p50 {percentile(own_overheads, 0.5) * 1000:.0f} "
        f"ms, p95 {p95:.0f} ms, max {max(own_overheads, default=float('nan')) * 1000:.0f} ms "
        f"(target p95 at most {REPLY_TARGET_OVERHEAD_MS} ms): {'met' if met else 'MISSED'}"
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


def _autogroup_note() -> str:
    """A warning when the kernel's autogroup scheduler is on: it shares the CPU between sessions, and the
    PostgreSQL server's backends are a session of their own, apart from gunicorn, wrk and this bench. With the
    2 cores full, queries then waited up to 0.7 s for a backend to run (PostgreSQL never saw them active and no
    web process's event loop lagged); with it off, none did."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return ""
    if not enabled:
        return ""
    return (
        "note: the kernel's autogroup scheduler is on (kernel.sched_autogroup_enabled=1): with both cores busy, "
        "PostgreSQL's backends (a session of their own) may wait for the CPU, and reads with them; "
        "`sysctl -w kernel.sched_autogroup_enabled=0` (as root) before measuring stalls, see docs/performance.md"
    )


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
    parser.add_argument(
        "--reuse-port", action="store_true", help="gunicorn's --reuse-port: a listening socket for each worker"
    )
    parser.add_argument("--no-access-log", action="store_true", help="gunicorn without its access log")
    parser.add_argument(
        "--app",
        choices=sorted(APPS),
        default="higgs",
        help="null: serve bench/null_reply.py (a post is only its Claude call), the replies phase's floor",
    )
    parser.add_argument("--read-seconds", type=float, default=30)
    parser.add_argument("--read-connections", type=int, default=20)
    parser.add_argument("--read-runs", type=int, default=1, help="measured runs of --read-seconds each")
    parser.add_argument("--read-chats", type=int, default=50, help="chats of the reader (the page lists 10)")
    parser.add_argument("--poll-seconds", type=float, default=10, help="seconds of each poll measure")
    parser.add_argument("--reply-rounds", type=int, default=3, help="rounds of everyone posting at once")
    parser.add_argument("--duration", type=float, default=120, help="seconds of mixed use")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a person's requests (s)")
    parser.add_argument("--model-seconds", type=float, default=1.0, help="the fake Claude's time per call")
    parser.add_argument("--work-seconds", type=float, default=3.0, help="the fake Higgsfield's time per job")
    parser.add_argument("--grace", type=float, default=60, help="seconds for generations to end after the load")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the load bench runs on PostgreSQL (--database-url postgres://...)")
    if args.app == "null" and (args.phases != "replies" or args.wsgi):
        raise SystemExit("--app null serves the replies phase only, under the ASGI workers")

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
        reuse_port=args.reuse_port,
        access_log=not args.no_access_log,
        app=args.app,
    )
    ok = True
    autogroup = _autogroup_note()
    if autogroup:
        print(autogroup)
    with stack:
        stack.prepare()
        stack.start()
        phases = args.phases.split(",")
        if "read" in phases:
            ok &= phase_read(stack, args)
        if "poll" in phases:
            ok &= phase_poll(stack, args)
        if "replies" in phases:
            ok &= phase_replies(stack, args)
        if "mixed" in phases:
            ok &= phase_mixed(stack, args)
        if not ok:
            for name in ("web", "worker"):
                print(f"\nlast lines of the {name} log:\n{stack.log_tail(name)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
