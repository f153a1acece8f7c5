"""How often a recommender offers a style or motion a person would accept, over the cases of recommender_cases.py.

It runs on a throwaway SQLite database holding the real catalogue from SEED_DATA_DIR, and prints one row per case
and the hit rate. A measurement, not a test: it exits 0 unless --min-hit-rate is given and not reached.

    .venv/bin/python bench/recommender_eval.py [--recommender offline|agent] [--min-hit-rate 0.8]

`--recommender agent` runs our Claude agent against the fake Anthropic server with the scripted
model of bench/fake_model.py (word overlap): it measures the agent's pipeline, not Claude's taste.
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Wide enough for a prompt and a few names; longer cells are cut with an ellipsis.
COLUMNS = {"prompt": 46, "expected": 34, "picked": 46}


@dataclass(frozen=True)
class Row:
    case: object  # a recommender_cases.Case
    picked: tuple[str, ...]  # the style or motion name of each option, in order
    kinds: tuple[str, ...]
    hit: bool
    note: str  # why a case missed


def _normal(name: str) -> str:
    return name.replace("’", "'").casefold().strip()


def evaluate(recommend_fn: Callable) -> tuple[int, int, list[Row]]:
    """Run every case through `recommend_fn(text, has_image, history) -> Reply` and score it.

    A case is a hit when its options have the kind it asks for and at least one of them uses an accepted entry."""
    from bench.recommender_cases import CASES
    from generation.model_schema import TEXT_TO_IMAGE
    from generation.models import Motion, Style

    names = {
        kind: dict(model.objects.values_list("id", "name")) for kind, model in (("style", Style), ("motion", Motion))
    }
    known = {kind: {_normal(name) for name in by_id.values()} for kind, by_id in names.items()}
    for case in CASES:
        kind = "style" if case.kind == TEXT_TO_IMAGE else "motion"
        unknown = [name for name in case.accepted if _normal(name) not in known[kind]]
        if unknown:
            raise ValueError(f"{case.text!r} accepts {kind}s the catalogue does not have: {unknown}")

    rows = []
    for case in CASES:
        reply = recommend_fn(case.text, case.has_image, list(case.history))
        picked = tuple(
            names["style"].get(option.style_id) or names["motion"].get(option.motion_id) or "?"
            for option in reply.options
        )
        kinds = tuple(option.kind for option in reply.options)
        accepted = {_normal(name) for name in case.accepted}
        if not reply.options:
            note = "no options"
        elif any(kind != case.kind for kind in kinds):
            note = f"wrong kind: {', '.join(sorted(set(kinds)))}"
        elif not accepted & {_normal(name) for name in picked}:
            note = "no accepted pick"
        else:
            note = ""
        rows.append(Row(case=case, picked=picked, kinds=kinds, hit=not note, note=note))
    hits = sum(row.hit for row in rows)
    return hits, len(rows), rows


def _offline(text, has_image, history):
    from recommender.offline import recommend

    return recommend(text=text, has_image=has_image, history=history)


def _agent(text, has_image, history):
    """Our Claude agent against the fake server and the scripted model of bench/fake_model.py."""
    import asyncio

    from recommender import agent
    from recommender.types import ReplySink, Turn

    _FAKE["server"].script(_FAKE["answer"])
    turns = [Turn(role="user", text=t) for t in history]
    return asyncio.run(agent.compose(text=text, has_image=has_image, history=turns, sink=ReplySink()))


_FAKE: dict = {}
RECOMMENDERS = {"offline": _offline, "agent": _agent}


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _prompt(case) -> str:
    before = " → ".join(case.history)
    text = f"{before} → {case.text}" if before else case.text
    return f"[photo] {text}" if case.has_image else text


def print_table(rows: list[Row]) -> None:
    header = "  ".join(title.ljust(width) for title, width in COLUMNS.items()) + "  result"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = {
            "prompt": _prompt(row.case),
            "expected": f"{row.case.kind}: {', '.join(row.case.accepted)}",
            "picked": ", ".join(row.picked) or "-",
        }
        line = "  ".join(_cell(cells[title], width).ljust(width) for title, width in COLUMNS.items())
        print(f"{line}  {'hit' if row.hit else 'MISS (' + row.note + ')'}")


def _setup_django(data_dir: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "higgs_project.settings"
    os.environ["DATA_DIR"] = data_dir
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    from generation.catalogue import catalogue_import, catalogue_read_dir

    call_command("migrate", verbosity=0)
    styles, motions = catalogue_read_dir(settings.SEED_DATA_DIR)
    catalogue_import(styles=styles, motions=motions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recommender", choices=sorted(RECOMMENDERS), default="offline")
    parser.add_argument("--min-hit-rate", type=float, help="exit 1 when the hit rate (0 to 1) is below this")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="recommender-eval-") as data_dir:
        if args.recommender == "agent":
            sys.path.insert(0, str(REPO_ROOT))
            from bench.fake_model import answer
            from recommender.tests.fake_anthropic import FakeAnthropic

            _FAKE.update(server=FakeAnthropic().start(), answer=answer)
            os.environ.update(ANTHROPIC_API_KEY="eval-key", ANTHROPIC_BASE_URL=_FAKE["server"].url, LOG_LEVEL="WARNING")
        _setup_django(data_dir)
        hits, total, rows = evaluate(RECOMMENDERS[args.recommender])
        print_table(rows)

        from django.db import connections

        connections.close_all()
        if _FAKE:
            _FAKE["server"].stop()

    rate = hits / total if total else 0.0
    print(f"\n{args.recommender}: {hits}/{total} hits, hit rate {rate:.1%}")
    if args.min_hit_rate is not None and rate < args.min_hit_rate:
        print(f"below the minimum of {args.min_hit_rate:.1%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
