"""200 generations at once against the fake Higgsfield, one worker process: none lost, none twice, how fast.

For each job, the delay is from the moment the fake Higgsfield finished it to the moment our row
says completed (result copied into our storage). Runs twice: with webhooks (our web server
receives Higgsfield's callbacks) and with polling only. Also reports the worker's CPU seconds.

    .venv/bin/python bench/generations.py [--jobs 200] [--work-seconds 5] [--database-url postgres://...]
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


def run(mode: str, args, base_env: dict) -> dict:
    from django.db import connection

    from chats.models import Attachment, User
    from generation import services
    from generation.models import Generation
    from generation.tests.fake_higgsfield import FakeHiggsfield
    from higgs_project.testing import free_port, start_web, stop

    Generation.objects.all().delete()
    Attachment.objects.all().delete()
    owner, _ = User.objects.get_or_create(username=f"bench-{mode}")
    processes = []
    with FakeHiggsfield(key_id="bench-id", key_secret="bench-secret", work_seconds=args.work_seconds) as fake:
        allow = fake.url.removeprefix("http://")  # the fake is on loopback: allowed by name (higgs_project.outbound)
        env = {**base_env, "HIGGSFIELD_BASE_URL": fake.url, "OUTBOUND_ALLOW_HOSTS": allow}
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
            cpu_before = _cpu_seconds(worker.pid)
            started = time.monotonic()
            ids = [
                services.generation_request(
                    owner=owner, kind="text_to_image", model_key="nano-banana", prompt=f"bench image number {i}"
                )[0].pk
                for i in range(args.jobs)
            ]
            deadline = started + args.work_seconds + 120
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
    rows = list(Generation.objects.filter(pk__in=ids).values("status", "provider_request_id", "finished_at"))
    delays = sorted(
        r["finished_at"].timestamp() - (fake_done[r["provider_request_id"]] + offset)
        for r in rows
        if r["status"] == "completed" and r["provider_request_id"] in fake_done
    )
    request_ids = [s.request_id for s in submissions]
    if deliveries:
        answered = sorted(d.at - fake_done[d.request_id] for d in deliveries if d.request_id in fake_done)
        print(
            f"  webhook answered by our web server: p50 {statistics.median(answered):.2f} s, "
            f"p95 {answered[int(0.95 * (len(answered) - 1))]:.2f} s after the fake finished"
        )
    unfinished = Generation.objects.filter(pk__in=ids).exclude(status="completed")
    for status, error in sorted(set(unfinished.values_list("status", "error")))[:5]:
        print(f"  {mode}: {status}: {error}")
    return {
        "mode": mode,
        "completed": sum(r["status"] == "completed" for r in rows),
        "lost": sum(r["status"] in Generation.ACTIVE for r in rows),
        "other": sum(r["status"] not in (*Generation.ACTIVE, "completed") for r in rows),
        "submissions": len(submissions),
        "duplicates": len(request_ids) - len(set(request_ids)) + max(0, len(submissions) - len(ids)),
        "attachments": Attachment.objects.filter(owner__username=f"bench-{mode}").count(),
        "p50": statistics.median(delays) if delays else float("nan"),
        "p95": delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
        "max": delays[-1] if delays else float("nan"),
        "elapsed": elapsed,
        "cpu": cpu,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--work-seconds", type=float, default=5.0)
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
            # One person starting 200 jobs at once: measured without the per-person limit and credits.
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

    print(f"{args.jobs} generations at once, {args.work_seconds:g} s of simulated work each, one worker process")
    print(f"database: {'PostgreSQL' if args.database_url.startswith('postgres') else 'SQLite'}\n")
    header = (
        f"{'':10}{'completed':>10}{'lost':>6}{'other':>7}{'dupes':>7}{'p50':>8}{'p95':>8}{'max':>8}"
        f"{'all done':>10}{'worker CPU':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['mode']:10}{r['completed']:>10}{r['lost']:>6}{r['other']:>7}{r['duplicates']:>7}"
            f"{r['p50']:>7.2f}s{r['p95']:>7.2f}s{r['max']:>7.2f}s{r['elapsed']:>9.1f}s{r['cpu']:>11.1f}s"
        )
    print("\ndelay: from the fake's completion to our completed row (result copied into our storage)")
    targets = {"webhooks": 1.5, "polling": poll_max + 1}
    ok = True
    for r in results:
        target = targets[r["mode"]]
        good = r["lost"] == 0 and r["duplicates"] == 0 and r["completed"] == args.jobs and r["p95"] < target
        ok &= good
        print(f"{r['mode']}: p95 target under {target:g} s: {'met' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
