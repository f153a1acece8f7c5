"""What one reply costs and how long it takes: request bytes, model calls, time to first text and to the end.

Runs our Claude agent against the fake Anthropic server on loopback, with the full catalogue
snapshot (106 styles, 121 motions) and a scripted model that takes MODEL_SECONDS before answering, for
"cinematic sunset over mountains". A prefix marked for caching counts at a tenth once the cache
is warm (cache reads are billed at 0.1x). Prints our figures beside the original design's.

    .venv/bin/python bench/recommender_cost.py [--model-seconds 0.8]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MESSAGE = "cinematic sunset over mountains"
ORIGINAL = {"calls": 8, "bytes": 176_444, "finished": 6.7}
TARGET_BYTES = ORIGINAL["bytes"] // 10 - 44  # 17,600: a tenth of the original's, rounded as the issue states


def _setup(data_dir: str, base_url: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="higgs_project.settings",
        DATA_DIR=data_dir,
        DATABASE_URL=f"sqlite:///{data_dir}/bench.sqlite3",
        ANTHROPIC_API_KEY="bench-key",
        ANTHROPIC_BASE_URL=base_url,
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir

    call_command("migrate", verbosity=0)
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
    catalogue_import(styles=styles, motions=motions)


class Timing:
    def __init__(self):
        self.started = time.monotonic()
        self.first_text = None
        self.options = 0

    async def text(self, delta):
        if self.first_text is None:
            self.first_text = time.monotonic() - self.started

    async def option(self, draft):
        self.options += 1


def _one_reply(server, step):
    from recommender import agent

    before = len(server.requests)
    server.script(*[step] * 10)
    timing = Timing()
    reply = asyncio.run(agent.compose(text=MESSAGE, has_image=False, history=[], sink=timing))
    finished = time.monotonic() - timing.started
    records = server.requests[before:]
    server._steps.clear()
    sent = sum(r.body_size for r in records)
    effective = sum(r.body_size - (0.9 * r.prefix_bytes if r.cache_hit else 0) for r in records)
    return {
        "calls": len(records),
        "bytes": sent,
        "effective": round(effective),
        "prefix": records[0].prefix_bytes,
        "warm": all(r.cache_hit for r in records),
        "first_text": timing.first_text,
        "finished": finished,
        "options": len(reply.options),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-seconds", type=float, default=0.8, help="the scripted model's time per call")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT))
    from bench.fake_model import answer
    from recommender.tests.fake_anthropic import FakeAnthropic

    with tempfile.TemporaryDirectory(prefix="recommender-cost-") as data_dir, FakeAnthropic() as server:
        _setup(data_dir, server.url)
        runs = {
            "ours, cold cache": _one_reply(server, partial(answer, delay=args.model_seconds)),
            "ours, warm cache": _one_reply(server, partial(answer, delay=args.model_seconds)),
            "ours, warm, one refused option": _one_reply(
                server, partial(answer, delay=args.model_seconds, invent_first=True)
            ),
        }

    print(f'One reply to "{MESSAGE}", full catalogue snapshot, model time {args.model_seconds} s a call\n')
    header = f"{'':34}{'calls':>6}{'bytes sent':>12}{'billed as':>11}{'first text':>12}{'finished':>10}{'options':>9}"
    print(header)
    print("-" * len(header))
    print(
        f"{'original design (measured)':34}{ORIGINAL['calls']:>6}{ORIGINAL['bytes']:>12,}{ORIGINAL['bytes']:>11,}"
        f"{'-':>12}{ORIGINAL['finished']:>9.1f}s{'':>9}"
    )
    for name, r in runs.items():
        print(
            f"{name:34}{r['calls']:>6}{r['bytes']:>12,}{r['effective']:>11,}{r['first_text']:>11.2f}s"
            f"{r['finished']:>9.2f}s{r['options']:>9}"
        )
    warm = runs["ours, warm cache"]
    print(
        f"\ncached prefix (tools, instructions, catalogue): {warm['prefix']:,} bytes, read from cache: {warm['warm']}"
    )
    print(
        f"warm reply billed as {warm['effective']:,} bytes: {warm['effective'] / ORIGINAL['bytes']:.1%} of the "
        f"original's {ORIGINAL['bytes']:,} (target at most {TARGET_BYTES:,})"
    )
    ok = (
        warm["calls"] <= 2
        and warm["effective"] <= TARGET_BYTES
        and runs["ours, warm, one refused option"]["calls"] <= 2
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
