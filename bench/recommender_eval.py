"""How well a recommender understands a request, over the cases of recommender_cases.py: whether it offers a style
or motion a person would accept (hits), the kind of result the words ask for (mode), the settings they ask for
within what each option's model accepts (parameters), and reasons that say only what is true.

It runs on a throwaway SQLite database holding the style, motion and model snapshots of generation/catalog/,
and prints one row per case and the four figures. A measurement, not a test: it exits 0 unless a --min-… figure is
given and not reached.

    .venv/bin/python bench/recommender_eval.py [--recommender offline|agent] [--min-hit-rate 0.9] [--min-mode 0.95]
        [--min-parameters 0.9] [--min-true-reasons 1.0]

`--recommender agent` runs our Claude agent against the fake Anthropic server with the scripted
model of bench/fake_model.py (word overlap): it measures the agent's pipeline, not Claude's taste.

Follow-ups that point at a result already in the chat ("animate it", "the second one as a video") run with a
picture in the chat, as the chat page gives one: they count as the right mode only when every option animates
that picture (image-to-video, with its URL as the option's image). Every case goes through the recommender's
entry point (recommender.services.reply_compose), as a reply in the product does.
"""

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Wide enough for a prompt and a few names; longer cells are cut with an ellipsis.
COLUMNS = {"prompt": 46, "expected": 34, "picked": 46}
# The model fields each asked setting goes to.
FIELDS = {
    "aspect_ratio": ("aspect_ratio",),
    "duration": ("duration",),
    "resolution": ("resolution",),
    "count": ("num_images", "batch_size"),
}
NAMED_HEIGHTS = {"2k": 1440, "4k": 2160}


@dataclass(frozen=True)
class Row:
    case: object  # a recommender_cases.Case
    picked: tuple[str, ...]  # the style or motion name of each option, in order
    kinds: tuple[str, ...]
    hit: bool
    mode: bool
    parameters: bool
    reasons_true: int
    reasons: int
    notes: tuple[str, ...] = field(default_factory=tuple)  # why a case missed, on any measure


@dataclass(frozen=True)
class Figures:
    rows: list[Row]

    def _rate(self, hits: int, total: int) -> float:
        return hits / total if total else 0.0

    @property
    def measured(self) -> list[Row]:
        return self.rows

    @property
    def hit_rate(self) -> float:
        return self._rate(sum(r.hit for r in self.measured), len(self.measured))

    @property
    def mode_accuracy(self) -> float:
        return self._rate(sum(r.mode for r in self.measured), len(self.measured))

    @property
    def parameter_accuracy(self) -> float:
        return self._rate(sum(r.parameters for r in self.rows), len(self.rows))

    @property
    def true_reason_rate(self) -> float:
        return self._rate(sum(r.reasons_true for r in self.rows), sum(r.reasons for r in self.rows))


def _normal(name: str) -> str:
    return name.replace("’", "'").casefold().strip()


def _ratio(value) -> float | None:
    parts = str(value).split(":")
    return int(parts[0]) / int(parts[1]) if len(parts) == 2 and all(p.isdigit() and int(p) for p in parts) else None


def _height(value) -> int | None:
    text = str(value).casefold()
    return NAMED_HEIGHTS.get(text) or (int(text.removesuffix("p")) if text.removesuffix("p").isdigit() else None)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return float(value) if str(value).isdigit() else None


def _acceptable(setting: str, prop: dict, value, wanted) -> bool:
    """Whether `value` is the nearest the property allows to what was asked (either of two equally near ones)."""
    if setting == "aspect_ratio":
        allowed = [v for v in prop.get("enum", []) if _ratio(v)]
        if wanted in allowed:
            return value == wanted
        want, got = _ratio(wanted), _ratio(value)
        if value not in allowed:
            return False
        if want == 1:
            # Square not offered: the least stretched frame will do, tall or wide.
            return abs(abs(math.log(got)) - min(abs(math.log(_ratio(v))) for v in allowed)) < 1e-9
        # Not offered: any allowed frame of the same orientation will do.
        return (want < 1) == (got < 1) and (want > 1) == (got > 1)
    if setting == "resolution":
        heights = [h for h in (_height(v) for v in prop.get("enum", [])) if h]
        return _height(value) is not None and abs(_height(value) - wanted) == min(abs(h - wanted) for h in heights)
    if "enum" in prop:
        numbers = [n for n in (_number(v) for v in prop["enum"]) if n is not None]
    else:
        low, high = prop.get("minimum", wanted), prop.get("maximum", wanted)
        numbers = [min(max(wanted, low), high)]
    got = _number(value)
    return got is not None and abs(got - wanted) == min(abs(n - wanted) for n in numbers)


def _said(setting: str, value, reason: str) -> bool:
    """Whether the reason names the value the option was set to."""
    text = reason.casefold()
    spoken = {
        "aspect_ratio": [str(value)],
        "duration": [f"{value} second", f"{value}-second", f"{value}s"],
        "resolution": [str(value).casefold(), f"{value}p".casefold()],
        "count": [f"{value} image", f"{value} picture", f"{value} variation"],
    }[setting]
    return any(word in text for word in spoken)


def parameter_faults(case, options, models, offered) -> list[str]:
    """What is wrong with the options' parameters for this case: a value the model's schema refuses, an asked
    setting left out or not at the nearest allowed value or not said in the reason, a length, resolution or
    count nobody asked for, or an asked setting no option carries though a model of the kind could."""
    from generation.model_schema import ParameterError, parameters_check, parameters_schema

    faults = []
    for option in options:
        model = models[option.model_key]
        schema = parameters_schema(model.input_schema)
        try:
            parameters_check(schema, option.parameters, label=model.name)
        except ParameterError as exc:
            faults.append(f"{model.name}: {exc}")
            continue
        props = schema["properties"]
        for setting, wanted in case.settings.items():
            name = next((f for f in FIELDS[setting] if f in props), None)
            if name is None:
                continue
            value = option.parameters.get(name)
            if value is None:
                faults.append(f"{model.name}: no {name}")
            elif not _acceptable(setting, props[name], value, wanted):
                faults.append(f"{model.name}: {name} {value!r} for {wanted!r}")
            elif not _said(setting, value, option.reason):
                faults.append(f"{model.name}: reason does not say {value}")
        for setting in ("duration", "resolution", "count"):
            unasked = [f for f in FIELDS[setting] if f in option.parameters and setting not in case.settings]
            if unasked:
                faults.append(f"{model.name}: {unasked[0]} set unasked")
    kinds = {option.kind for option in options}
    for setting in case.settings:
        possible = any(
            f in parameters_schema(m.input_schema)["properties"] for m in offered(kinds) for f in FIELDS[setting]
        )
        carried = any(f in option.parameters for option in options for f in FIELDS[setting])
        if possible and not carried:
            faults.append(f"no option carries {setting}")
    return faults


def evaluate(recommend_fn: Callable) -> Figures:
    """Run every case through `recommend_fn(text, has_image, history, result_in_chat) -> Reply` and score it."""
    from bench.recommender_cases import CASES
    from generation.model_catalogue import model_list
    from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, image_required
    from generation.models import GenerationModel, Motion, Style
    from recommender.claims import Sources, reason_unsupported

    entries = {kind: {e.id: e for e in model.objects.all()} for kind, model in (("style", Style), ("motion", Motion))}
    known = {kind: {_normal(e.name) for e in by_id.values()} for kind, by_id in entries.items()}
    for case in CASES:
        kind = "style" if case.kind == TEXT_TO_IMAGE else "motion"
        unknown = [name for name in (*case.accepted, *case.rejected) if _normal(name) not in known[kind]]
        if unknown:
            raise ValueError(f"{case.text!r} names {kind}s the catalogue does not have: {unknown}")
    models = {m.name: m for m in GenerationModel.objects.all()}

    def offered(kinds):
        return [
            m
            for kind in kinds
            for m in model_list(kind=kind)
            if kind == IMAGE_TO_VIDEO or not image_required(m.input_schema)
        ]

    rows = []
    for case in CASES:
        reply = recommend_fn(case.text, case.has_image, list(case.history), case.result_in_chat)
        picks = [entries["style"].get(o.style_id) or entries["motion"].get(o.motion_id) for o in reply.options]
        picked = tuple(p.name if p else "?" for p in picks)
        kinds = tuple(option.kind for option in reply.options)
        accepted = {_normal(name) for name in case.accepted}
        rejected = {_normal(name) for name in case.rejected} & {_normal(name) for name in picked}
        notes = []
        expected_kind = case.kind
        mode = bool(reply.options) and all(kind == expected_kind for kind in kinds)
        if not reply.options:
            notes.append("no options")
        elif not mode:
            notes.append(f"kind {', '.join(sorted(set(kinds)))}")
        elif case.result_in_chat and any(option.source_image_url != RESULT_URL for option in reply.options):
            mode = False
            notes.append("does not animate the picture in the chat")
        hit = bool(accepted & {_normal(name) for name in picked}) and not rejected
        if reply.options and not hit:
            notes.append(f"picked rejected {sorted(rejected)}" if rejected else "no accepted pick")
        faults = parameter_faults(case, reply.options, models, offered)
        notes += faults[:2]
        request = " ".join([*case.history, case.text])
        true = 0
        for option, pick in zip(reply.options, picks, strict=True):
            model = models.get(option.model_key)
            sources = Sources(
                request=request,
                entry=f"{pick.name} {pick.description}" if pick else "",
                model=f"{model.label} {model.summary}" if model else "",
                parameters=option.parameters,
            )
            unsupported = reason_unsupported(option.reason, sources)
            if unsupported:
                notes.append(f"untrue: {', '.join(unsupported[:4])}")
            else:
                true += 1
        rows.append(
            Row(
                case=case,
                picked=picked,
                kinds=kinds,
                hit=hit and mode,
                mode=mode,
                parameters=bool(reply.options) and not faults,
                reasons_true=true,
                reasons=len(reply.options),
                notes=tuple(notes),
            )
        )
    return Figures(rows)


# The picture a result_in_chat case's chat shows (a result of the first option of the reply before).
RESULT_URL = "/media/results/eval/picture.png"


def _compose(text, has_image, history, result_in_chat):
    """The reply through the recommender's entry point, with a picture in the chat when the case has one."""
    from asgiref.sync import async_to_sync

    from recommender.services import reply_compose, reply_ground
    from recommender.types import ChatImages, ReplySink, Turn

    images = ChatImages(newest=RESULT_URL, by_option=(RESULT_URL,) * 3) if result_in_chat else None
    turns = [Turn(role="user", text=t) for t in history]
    grounding = reply_ground(text=text, has_image=has_image, chat_images=images)
    # async_to_sync runs the recommender's database reads on this thread's connection (a test's transaction).
    return async_to_sync(reply_compose)(text=text, history=turns, sink=ReplySink(), grounding=grounding)


def _offline(text, has_image, history, result_in_chat):
    return _compose(text, has_image, history, result_in_chat)


def _agent(text, has_image, history, result_in_chat):
    """Our Claude agent against the fake server and the scripted model of bench/fake_model.py."""
    _FAKE["server"].script(*[_FAKE["answer"]] * 3)
    try:
        return _compose(text, has_image, history, result_in_chat)
    finally:
        _FAKE["server"]._steps.clear()


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
        if row.hit and row.mode and row.parameters and row.reasons_true == row.reasons:
            result = "ok"
        else:
            result = "MISS"
        if row.notes and result != "ok":
            result += " (" + "; ".join(row.notes) + ")"
        print(f"{line}  {result}")


def print_figures(name: str, figures: Figures) -> None:
    rows, measured = figures.rows, figures.measured
    print(f"\n{name}: {len(rows)} cases")
    print(f"  hit rate            {sum(r.hit for r in measured):>4}/{len(measured):<4} {figures.hit_rate:6.1%}")
    print(f"  mode accuracy       {sum(r.mode for r in measured):>4}/{len(measured):<4} {figures.mode_accuracy:6.1%}")
    print(
        f"  parameter accuracy  {sum(r.parameters for r in rows):>4}/{len(rows):<4} {figures.parameter_accuracy:6.1%}"
    )
    reasons = sum(r.reasons for r in rows)
    true = sum(r.reasons_true for r in rows)
    print(f"  true reasons        {true:>4}/{reasons:<4} {figures.true_reason_rate:6.1%}  (per option)")
    animating = [r for r in rows if r.case.result_in_chat]
    if animating:
        print(
            f"  animate a result    {sum(r.mode for r in animating):>4}/{len(animating):<4} "
            "(options that animate the picture already in the chat)"
        )


def _setup_django(data_dir: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "higgs_project.settings"
    os.environ["DATA_DIR"] = data_dir
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"

    import django

    django.setup()

    from django.core.management import call_command

    from generation.catalogue import SNAPSHOT_DIR, catalogue_import, catalogue_read_dir

    call_command("migrate", verbosity=0)
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
    catalogue_import(styles=styles, motions=motions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recommender", choices=sorted(RECOMMENDERS), default="offline")
    parser.add_argument("--min-hit-rate", type=float, help="exit 1 when the hit rate (0 to 1) is below this")
    parser.add_argument("--min-mode", type=float, help="exit 1 when the mode accuracy is below this")
    parser.add_argument("--min-parameters", type=float, help="exit 1 when the parameter accuracy is below this")
    parser.add_argument("--min-true-reasons", type=float, help="exit 1 when the true-reason rate is below this")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="recommender-eval-") as data_dir:
        if args.recommender == "agent":
            sys.path.insert(0, str(REPO_ROOT))
            from bench.fake_model import answer
            from recommender.tests.fake_anthropic import FakeAnthropic

            _FAKE.update(server=FakeAnthropic().start(), answer=answer)
            os.environ.update(ANTHROPIC_API_KEY="eval-key", ANTHROPIC_BASE_URL=_FAKE["server"].url, LOG_LEVEL="WARNING")
        _setup_django(data_dir)
        figures = evaluate(RECOMMENDERS[args.recommender])
        print_table(figures.rows)
        print_figures(args.recommender, figures)

        from django.db import connections

        connections.close_all()
        if _FAKE:
            _FAKE["server"].stop()

    failed = [
        f"{label} {value:.1%} is below {minimum:.1%}"
        for label, value, minimum in (
            ("hit rate", figures.hit_rate, args.min_hit_rate),
            ("mode accuracy", figures.mode_accuracy, args.min_mode),
            ("parameter accuracy", figures.parameter_accuracy, args.min_parameters),
            ("true-reason rate", figures.true_reason_rate, args.min_true_reasons),
        )
        if minimum is not None and value < minimum
    ]
    for line in failed:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
