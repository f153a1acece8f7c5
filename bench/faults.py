"""Faults on the production stack (see bench/load.py), each ending in PASS or FAIL.

    .venv/bin/python bench/faults.py pg-restart [--dry-run]   # PostgreSQL restarted under a light load
    .venv/bin/python bench/faults.py worker-kill              # the task worker SIGKILLed mid-job
    .venv/bin/python bench/faults.py fakes-misbehave          # slow, failing and garbage Claude and Higgsfield

pg-restart restarts the machine's PostgreSQL server (pg_ctlcluster): every database on it drops its
connections, so run it only where nobody else is using that server. --dry-run does everything else.
fakes-misbehave runs the pytest tests that cover those faults (they run in CI too).
"""

import argparse
import asyncio
import glob
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import PY, REPO_ROOT, Stack, make_people  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/higgs_faults"
QUICK_JOBS = {
    # Quick clocks so that a run takes seconds, not minutes; limits per person off: faults are measured here.
    "GENERATION_POLL_FIRST_SECONDS": "0.5",
    "GENERATION_POLL_MAX_SECONDS": "1",
    "GENERATION_WATCHDOG_SECONDS": "1",
    "RATE_LIMIT_MESSAGES": "0",
    "RATE_LIMIT_GENERATIONS": "0",
    # The fake account here has no concurrency limit: every job goes at once, so that kills land mid-tracking.
    "HIGGSFIELD_CONCURRENCY": "100000",
}


def verdict(ok: bool, name: str, detail: str) -> int:
    print(f"\n{'PASS' if ok else 'FAIL'} {name}: {detail}")
    return 0 if ok else 1


def generation_body(tag: str) -> dict:
    return {"mode": "text-to-image", "model_name": "nano-banana", "prompt": f"a lighthouse in a storm, {tag}"}


def wait_final(ids, timeout: float) -> dict:
    """Wait until every generation in `ids` has ended (or the timeout); their count by status."""
    from django.db import connections
    from django.db.models import Count

    from generation.models import Generation

    deadline = time.monotonic() + timeout
    rows = Generation.objects.filter(pk__in=ids)
    while time.monotonic() < deadline:
        try:
            if not rows.filter(status__in=Generation.ACTIVE).exists():
                break
        except Exception:  # the database may still be coming back
            connections.close_all()
        time.sleep(0.5)
    return dict(rows.values("status").annotate(n=Count("id")).values_list("status", "n"))


# --- pg-restart ---


def pg_restart_command() -> list[str]:
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions:
        raise SystemExit("no PostgreSQL cluster under /etc/postgresql")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


def pg_restart(args) -> int:
    import httpx

    stack = Stack(database_url=args.database_url, web_workers=2, work_seconds=2, pool=args.pool, extra_env=QUICK_JOBS)
    with stack:
        stack.prepare()
        stack.start()
        _, token = make_people(1, "fault")[0]
        web_pid, worker_pid = stack.web.pid, stack.workers[0].pid
        log = []  # (monotonic time, ok, what)
        generations = []
        waits = []  # (sent at, seconds to the answer)
        restart = {}
        stop = threading.Event()

        def restart_server():
            command = pg_restart_command()
            restart["start"] = time.monotonic()
            if args.dry_run:
                print(f"dry run: would run {' '.join(command)}; sleeping 3 s instead")
                time.sleep(3)
            else:
                print(f"running {' '.join(command)}")
                subprocess.run(command, check=True)
            restart["end"] = time.monotonic()

        async def loop(client, n):
            i = 0
            while not stop.is_set():
                i += 1
                sent = time.monotonic()
                try:
                    if i % 5 == 0:
                        response = await client.post("/api/generations", json=generation_body(f"{n}-{i}"))
                        ok = response.status_code == 202
                        if ok:
                            generations.append(response.json()["id"])
                    else:
                        response = await client.get("/api/chats?limit=10")
                        ok = response.status_code == 200
                    what = str(response.status_code)
                except httpx.HTTPError as exc:
                    ok, what = False, type(exc).__name__
                log.append((time.monotonic(), ok, what))
                waits.append((sent, time.monotonic() - sent))
                await asyncio.sleep(0.1)

        async def run():
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=stack.base, headers=headers, timeout=15) as client:
                tasks = [asyncio.create_task(loop(client, n)) for n in range(4)]
                await asyncio.sleep(args.before)
                await asyncio.to_thread(restart_server)
                # Keep loading until the app has answered well for a while, or give up.
                deadline = restart["end"] + args.recover_within + args.steady
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    recent = [ok for at, ok, _ in log if at > time.monotonic() - args.steady]
                    failed_after = [at for at, ok, _ in log if not ok and at > restart["start"]]
                    last_failure = max(failed_after, default=restart["end"])
                    if recent and all(recent) and time.monotonic() - last_failure > args.steady:
                        break
                stop.set()
                await asyncio.gather(*tasks)

        asyncio.run(run())
        from django.db import connections

        connections.close_all()
        during = [(at, ok, what) for at, ok, what in log if at >= restart["start"]]
        failures = [x for x in during if not x[1]]
        last_failure = max((at for at, _, _ in failures), default=restart["end"])
        recovered_after = max(0.0, last_failure - restart["end"])
        kinds = sorted({what for _, _, what in failures})
        longest = max((took for at, took in waits if at >= restart["start"] - 1), default=0.0)
        print(
            f"restart took {restart['end'] - restart['start']:.1f} s; {len(log)} requests, "
            f"the longest answer from the restart on {longest:.1f} s; "
            f"{len(failures)} failed from the restart on ({', '.join(kinds) or 'none'}); "
            f"last failure {recovered_after:.1f} s after the restart finished"
        )
        # The worker still works: new jobs after the restart end, and so do the ones from before.
        from chats.models import User
        from generation import services

        owner = User.objects.get(username="fault-000")
        fresh = [
            services.generation_request(
                owner=owner, kind="text_to_image", model_key="nano-banana", prompt=f"after {i}"
            )[0].pk
            for i in range(5)
        ]
        statuses = wait_final([*generations, *fresh], timeout=60)
        fresh_done = wait_final(fresh, timeout=1)
        same_processes = stack.web.poll() is None and stack.workers[0].poll() is None
        print(f"generations: {statuses}; after the restart: {fresh_done}")
        print(f"gunicorn (pid {web_pid}) and the worker (pid {worker_pid}) still running: {same_processes}")
        recent_ok = all(ok for at, ok, _ in log if at > log[-1][0] - args.steady) if log else False
        ok = (
            same_processes
            and recent_ok
            and recovered_after <= args.recover_within
            and fresh_done.get("completed", 0) == len(fresh)
            and not any(statuses.get(s, 0) for s in ("waiting", "queued", "submitted", "in_progress"))
        )
        name = "pg-restart" + (" (dry run, PostgreSQL not restarted)" if args.dry_run else "")
        return verdict(
            ok,
            name,
            f"{len(failures)} requests failed, the app answered again {recovered_after:.1f} s after the restart "
            f"(limit {args.recover_within:g} s) with no process restarted, and every job ended",
        )


# --- worker-kill ---


def worker_kill(args) -> int:
    import httpx

    stack = Stack(database_url=args.database_url, work_seconds=args.work_seconds, pool=args.pool, extra_env=QUICK_JOBS)
    with stack:
        stack.prepare()
        stack.start()
        from generation.models import Generation

        people = make_people(args.people, "fault")

        async def request_all():
            async def one(token, i):
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=stack.base, headers=headers, timeout=30) as client:
                    response = await client.post("/api/generations", json=generation_body(f"{uuid.uuid4().hex} {i}"))
                    response.raise_for_status()
                    return response.json()["id"]

            per_person = -(-args.jobs // len(people))
            calls = [one(token, i) for _, token in people for i in range(per_person)][: args.jobs]
            return await asyncio.gather(*calls)

        ids = asyncio.run(request_all())
        rows = Generation.objects.filter(pk__in=ids)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            tracking = rows.filter(status__in=["submitted", "in_progress"]).count()
            if tracking >= len(ids) // 2:
                break
            time.sleep(0.1)
        states = ("waiting", "queued", "submitted", "in_progress", "completed")
        at_kill = {s: rows.filter(status=s).count() for s in states}
        worker = stack.workers[0]
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        print(f"SIGKILL to the worker (pid {worker.pid}) with the jobs at {at_kill}")
        time.sleep(args.down_seconds)
        stack.start_worker()
        started = time.monotonic()
        statuses = wait_final(ids, timeout=args.grace)
        took = time.monotonic() - started
        request_ids = [s.request_id for s in stack.higgsfield.submissions]
        twice = len(request_ids) - len(set(request_ids)) + max(0, len(request_ids) - len(ids))
        print(f"after a new worker started: {statuses} in {took:.1f} s; {len(request_ids)} submissions to Higgsfield")
        ok = statuses.get("completed", 0) == len(ids) and twice == 0
        return verdict(
            ok,
            "worker-kill",
            f"{statuses.get('completed', 0)} of {len(ids)} jobs completed after the kill, {twice} submitted twice",
        )


# --- fakes-misbehave ---

FAULT_TESTS = [
    "generation/tests/test_faults.py",
    "recommender/tests/test_faults.py",
    "generation/tests/test_higgsfield_jobs.py::test_a_rate_limited_submit_is_retried",
    "generation/tests/test_higgsfield_jobs.py::test_no_credits_fails_the_job_at_once_with_the_reason",
    "generation/tests/test_higgsfield_jobs.py::test_status_errors_and_garbage_are_polled_again",
    "generation/tests/test_higgsfield_jobs.py::test_a_result_that_never_becomes_readable_ends_at_the_time_limit",
    "generation/tests/test_higgsfield_jobs.py::test_a_slow_answer_is_a_timeout_worth_a_retry",
    "recommender/tests/test_agent.py::test_overload_and_rate_limits_are_retried_with_backoff",
    "recommender/tests/test_agent.py::test_a_model_that_keeps_failing_marks_the_reply_failed_and_retry_recovers",
    "recommender/tests/test_agent.py::test_a_slow_model_times_out_into_a_readable_failure",
    "recommender/tests/test_agent.py::test_garbage_or_a_cut_stream_fails_the_reply_without_a_500",
    "recommender/tests/test_agent.py::test_the_tool_rounds_stop_at_the_cap_and_the_reply_fails_cleanly",
]


def fakes_misbehave(args) -> int:
    result = subprocess.run([PY, "-m", "pytest", *FAULT_TESTS, "-q", "-p", "no:cacheprovider"], cwd=REPO_ROOT)
    return verdict(
        result.returncode == 0,
        "fakes-misbehave",
        f"the fault tests ({len(FAULT_TESTS)} files or tests) {'passed' if result.returncode == 0 else 'failed'}",
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="fault", required=True)
    restart = sub.add_parser("pg-restart", help="restart PostgreSQL under a light load")
    restart.add_argument("--dry-run", action="store_true", help="everything but the restart itself")
    restart.add_argument("--before", type=float, default=5, help="seconds of load before the restart")
    restart.add_argument("--recover-within", type=float, default=30, help="seconds the app may take to answer again")
    restart.add_argument("--steady", type=float, default=5, help="seconds of good answers that count as recovered")
    kill = sub.add_parser("worker-kill", help="SIGKILL the worker mid-job, start another")
    kill.add_argument("--jobs", type=int, default=60)
    kill.add_argument("--people", type=int, default=6)
    kill.add_argument("--work-seconds", type=float, default=4, help="the fake Higgsfield's time per job")
    kill.add_argument("--down-seconds", type=float, default=3, help="seconds without a worker")
    kill.add_argument("--grace", type=float, default=90, help="seconds for every job to end after the restart")
    sub.add_parser("fakes-misbehave", help="the fault tests of the fake Claude and the fake Higgsfield")
    for p in (restart, kill):
        p.add_argument("--database-url", default=DATABASE, help="PostgreSQL database to drop and create again")
        p.add_argument("--pool", type=int, default=8, help="DATABASE_POOL_MAX_SIZE for the app (0: no pool)")
    args = parser.parse_args(argv)
    return {"pg-restart": pg_restart, "worker-kill": worker_kill, "fakes-misbehave": fakes_misbehave}[args.fault](args)


if __name__ == "__main__":
    sys.exit(main())
