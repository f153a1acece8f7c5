"""Many generations at once against the fake Higgsfield, one worker process: none lost, none twice, how fast.

For each job, the delay is from the moment the fake Higgsfield finished it to the moment our row says completed
(result copied into our storage). Runs with webhooks (our web server receives Higgsfield's callbacks) and with
polling only. Also reports the worker's CPU seconds.

With --account-concurrency N the fake account takes at most N requests queued or running at once (more are
answered 400, as Higgsfield's docs describe) and our pool is set to the same HIGGSFIELD_CONCURRENCY: the jobs of
--people persons (each making jobs / people in a row) wait in our line. Then it reports the most requests in flight
at the fake, the wall time against the ideal (jobs / N x work seconds) and the p95 wait of each person's first job
(made until taken in by Higgsfield). --lose-rate drops that share of the submissions' answers after the fake has
taken them in (the connection is closed with no answer): every such job must be sent again under its
Idempotency-Key and end as one request.

    .venv/bin/python bench/generations.py [--jobs 200] [--work-seconds 5] [--database-url postgres://...]
    .venv/bin/python bench/generations.py --account-concurrency 4 --work-seconds 3 --people 20 --jobs 200 \\
        --modes webhooks [--lose-rate 0.1]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[int(0.95 * (len(values) - 1))] if values else float("nan")


def _make_jobs(args, mode: str) -> list:
    """jobs / people jobs for each person, one person after the other (the last person's first job is made last
    but one burst later than the first person's)."""
    from chats.models import User
    from generation import services

    people = [User.objects.get_or_create(username=f"bench-{mode}-{i}")[0] for i in range(args.people)]
    ids = []
    for n in range(args.jobs):
        owner = people[n * args.people // args.jobs]
        ids.append(
            services.generation_request(
                owner=owner, kind="text_to_image", model_key="nano-banana", prompt=f"bench image number {n}"
            )[0].pk
        )
    return ids


def run(mode: str, args, base_env: dict) -> dict:
    from django.db import connection

    from chats.models import Attachment
    from generation.models import Generation, SubmissionPool
    from generation.tests.fake_higgsfield import FakeHiggsfield
    from higgs_project.testing import free_port, start_web, stop

    Generation.objects.all().delete()
    Attachment.objects.all().delete()
    SubmissionPool.objects.all().delete()
    processes = []
    fake = FakeHiggsfield(
        key_id="bench-id",
        key_secret="bench-secret",
        work_seconds=args.work_seconds,
        account_concurrency=args.account_concurrency,
        lose_rate=args.lose_rate,
        seed=1,
    )
    with fake:
        allow = fake.url.removeprefix("http://")  # the fake is on loopback: allowed by name (higgs_project.outbound)
        limit = args.pool or args.account_concurrency or 100_000
        env = {
            **base_env,
            "HIGGSFIELD_BASE_URL": fake.url,
            "OUTBOUND_ALLOW_HOSTS": allow,
            "HIGGSFIELD_CONCURRENCY": str(limit),
        }
        if mode == "webhooks":
            port = free_port()
            env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            web, _ = start_web(env, port=port)
            processes.append(web)
        worker = subprocess.Popen([PY, "manage.py", "run_worker", "--interval", "0.2"], cwd=REPO_ROOT, env=env)
        processes.append(worker)
        try:
            # Same settings in this process, so the jobs are made as the web would make them.
            from django.conf import settings

            settings.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL", "")
            settings.HIGGSFIELD_BASE_URL = fake.url
            settings.OUTBOUND_ALLOW_HOSTS = [allow]
            settings.HIGGSFIELD_CONCURRENCY = limit
            cpu_before = _cpu_seconds(worker.pid)
            started = time.monotonic()
            ids = _make_jobs(args, mode)
            slots = min(limit, args.account_concurrency or limit, args.jobs)
            ideal = args.jobs / slots * args.work_seconds
            deadline = started + ideal * 3 + 120
            while time.monotonic() < deadline:
                if not Generation.objects.filter(pk__in=ids, status__in=Generation.ACTIVE).exists():
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            cpu = _cpu_seconds(worker.pid) - cpu_before
            fake_done = fake.complete_times
        finally:
            stop(*processes)
        submissions = fake.submissions
        deliveries = [d for d in fake.webhook_deliveries if d.ok and not d.duplicate]
    connection.close()

    # The fake's clock is time.monotonic() in this process; rows carry wall-clock times.
    offset = time.time() - time.monotonic()
    rows = list(
        Generation.objects.filter(pk__in=ids).values(
            "pk", "owner_id", "status", "provider_request_id", "created_at", "submitted_at", "finished_at"
        )
    )
    delays = sorted(
        r["finished_at"].timestamp() - (fake_done[r["provider_request_id"]] + offset)
        for r in rows
        if r["status"] == "completed" and r["provider_request_id"] in fake_done
    )
    firsts = {}
    for r in sorted(rows, key=lambda r: r["created_at"]):
        firsts.setdefault(r["owner_id"], r)
    first_waits = [
        (r["submitted_at"] - r["created_at"]).total_seconds() for r in firsts.values() if r["submitted_at"] is not None
    ]
    if deliveries:
        answered = sorted(d.at - fake_done[d.request_id] for d in deliveries if d.request_id in fake_done)
        print(
            f"  webhook answered by our web server: p50 {statistics.median(answered):.2f} s, "
            f"p95 {_p95(answered):.2f} s after the fake finished"
        )
    unfinished = Generation.objects.filter(pk__in=ids).exclude(status="completed")
    for status, error in sorted(set(unfinished.values_list("status", "error")))[:5]:
        print(f"  {mode}: {status}: {error}")
    # A duplicate is a second request at Higgsfield for one job (a job's key is its id).
    per_job = {}
    for s in submissions:
        per_job[s.idempotency_key] = per_job.get(s.idempotency_key, 0) + 1
    return {
        "mode": mode,
        "completed": sum(r["status"] == "completed" for r in rows),
        "failed": sum(r["status"] not in (*Generation.ACTIVE, "completed") for r in rows),
        "lost": sum(r["status"] in Generation.ACTIVE for r in rows),
        "submissions": len(submissions),
        "duplicates": sum(n - 1 for n in per_job.values()) + sum(1 for k in per_job if k is None),
        "replays": len(fake.replays),
        "answers_lost": len(fake.lost_answers),
        "refusals": len(fake.capacity_refusals),
        "in_flight": fake.max_in_flight(),
        "attachments": Attachment.objects.filter(owner__username__startswith=f"bench-{mode}-").count(),
        "p50": statistics.median(delays) if delays else float("nan"),
        "p95": _p95(delays),
        "first_p95": _p95(first_waits),
        "elapsed": elapsed,
        "ideal": ideal,
        "cpu": cpu,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--work-seconds", type=float, default=5.0)
    parser.add_argument("--account-concurrency", type=int, default=None, help="the fake account's limit (and ours)")
    parser.add_argument(
        "--pool", type=int, default=None, help="our HIGGSFIELD_CONCURRENCY, when it differs from the account's limit"
    )
    parser.add_argument("--people", type=int, default=1, help="persons making the jobs, each in a row")
    parser.add_argument("--lose-rate", type=float, default=0.0, help="share of submission answers dropped")
    parser.add_argument("--database-url", default="", help="default: a throwaway SQLite file")
    parser.add_argument("--modes", default="webhooks,polling")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-generations-") as tmp:
        base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "higgs_project.settings",
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
            "DATA_DIR": tmp,
            "HIGGSFIELD_KEY_ID": "bench-id",
            "HIGGSFIELD_KEY_SECRET": "bench-secret",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Plain HTTP on loopback, as `make run` serves: no redirect of the fake's webhooks to https.
            "SECURE_HTTPS": "0",
            # People starting many jobs at once: measured without the per-person limit and credits.
            "RATE_LIMIT_GENERATIONS": "",
            "GENERATION_PRICES": "image=0",
        }
        os.environ.update(base_env)
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        results = [run(mode, args, base_env) for mode in args.modes.split(",")]
        poll_max = settings.GENERATION_POLL_MAX_SECONDS

    limit = args.account_concurrency
    print(
        f"{args.jobs} generations by {args.people} people, {args.work_seconds:g} s of simulated work each, "
        f"account limit {limit or 'none'}, our pool {args.pool or limit or 'none'}, "
        f"{args.lose_rate:.0%} of submission answers lost, one worker process"
    )
    print(f"database: {'PostgreSQL' if args.database_url.startswith('postgres') else 'SQLite'}\n")
    header = (
        f"{'':10}{'completed':>10}{'failed':>7}{'lost':>6}{'dupes':>7}{'in flight':>10}{'refused':>8}"
        f"{'p50':>8}{'p95':>8}{'1st p95':>9}{'all done':>10}{'x ideal':>9}{'worker CPU':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['mode']:10}{r['completed']:>10}{r['failed']:>7}{r['lost']:>6}{r['duplicates']:>7}"
            f"{r['in_flight']:>10}{r['refusals']:>8}{r['p50']:>7.2f}s{r['p95']:>7.2f}s{r['first_p95']:>8.1f}s"
            f"{r['elapsed']:>9.1f}s{r['elapsed'] / r['ideal']:>9.2f}{r['cpu']:>11.1f}s"
        )
        if r["answers_lost"]:
            lost, replays = r["answers_lost"], r["replays"]
            print(f"  {r['mode']}: {lost} answers lost, {replays} resends answered with their request")
    print("\ndelay: from the fake's completion to our completed row (result copied into our storage)")
    print("1st p95: the p95 wait of each person's first job, from made to taken in by Higgsfield")
    print(f"x ideal: all done against jobs / limit x work seconds ({results[0]['ideal']:.0f} s)")
    ok = True
    for r in results:
        good = r["lost"] == 0 and r["failed"] == 0 and r["duplicates"] == 0 and r["completed"] == args.jobs
        if limit:
            good &= r["in_flight"] <= limit
            if r["mode"] == "webhooks":
                good &= r["elapsed"] <= 1.2 * r["ideal"]
            print(f"{r['mode']}: none failed, none twice, at most {limit} in flight: {'met' if good else 'MISSED'}")
        else:
            target = {"webhooks": 1.5, "polling": poll_max + 1}[r["mode"]]
            good &= r["p95"] < target
            print(f"{r['mode']}: p95 target under {target:g} s: {'met' if good else 'MISSED'}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
