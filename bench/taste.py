"""How much each person's taste helps: simulated people with stable preferences (a favourite model, a family of
styles, a format) ask for images for 40 turns each and generate the option they like best; we count how often
the first option offered is their preferred kind (their favourite model with a style of their family), with
taste on and with taste off, and check that a person with no history gets exactly the reply they got before.

Every turn goes through the whole reply path (chats.services.message_post, the offline recommender, the taste
read from the database). Taste off is the same person with their taste reset before each turn. It runs on a
throwaway SQLite database holding the real catalogue, like bench/recommender_eval.py.

    .venv/bin/python bench/taste.py [--turns 40] [--min-gain 30]
"""

import argparse
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

SUBJECTS = [
    "a woman in a red coat",
    "a cat on a windowsill",
    "a portrait of an old fisherman",
    "a city street at night",
    "a bowl of ramen",
    "a girl walking on the beach",
    "a man in a suit",
    "a skateboarder in the park",
    "a cup of coffee on a table",
    "friends dancing at a party",
    "a vintage car on a coastal road",
    "a dog running in the grass",
    "a musician with a guitar",
    "a couple on a rooftop",
    "a chef in a busy kitchen",
    "a cyclist in the rain",
    "a model posing in sunglasses",
    "a teenager in a bedroom",
    "an old lighthouse",
    "a florist in her shop",
]
# Every this many turns the person picks their favourite model in the composer (as people do when they know it).
PICKS_MODEL_EVERY = 5
FORMATS = {"vertical": "vertical", "square": "square format", "wide": "widescreen"}


@dataclass(frozen=True)
class Person:
    name: str
    model: str  # their favourite model
    styles: frozenset[str]  # their family of styles, by name
    format: str  # vertical, square or wide
    offset: int  # where in SUBJECTS they start, so that people differ


PEOPLE = [
    Person(
        "nora",
        "nano-banana",
        frozenset({"Sunset beach", "Sea breeze", "Night Beach", "Amalfi Summer", "Sunbathing", "Sand"}),
        "vertical",
        0,
    ),
    Person(
        "felix",
        "flux-kontext",
        frozenset({"Night rider", "hallway noir", "tokyo drift", "static glow", "Nicotine glow", "chrome exit"}),
        "wide",
        5,
    ),
    Person(
        "sara",
        "soul",
        frozenset({"90s Grain", "2000s Cam", "DigitalCam", "Vintage PhotoBooth", "Y2K", "Tumblr", "iPhone"}),
        "vertical",
        10,
    ),
    Person(
        "remy",
        "reve",
        frozenset({"Quiet luxury", "90’s Editorial", "green editorial", "FashionShow", "burgundy suit", "Realistic"}),
        "square",
        15,
    ),
]


def _request(person: Person, turn: int) -> str:
    subject = SUBJECTS[(person.offset + turn) % len(SUBJECTS)]
    # Half the time they say the format they like; the other half they leave it to us.
    return f"{subject}, {FORMATS[person.format]}" if turn % 2 else subject


def _liking(person: Person, option, names: dict) -> int:
    from recommender.taste import aspect_format

    return (
        2 * (option.model_key == person.model)
        + 2 * (names.get(option.style_id) in person.styles)
        + (aspect_format(option.parameters) == person.format)
    )


def _preferred(person: Person, option) -> bool:
    return option.model_key == person.model


def _generate(owner, option) -> None:
    """What the person's Generate leaves in our database (the job itself is not run): a finished generation."""
    from django.utils import timezone

    from generation.models import Generation

    Generation.objects.create(
        owner=owner,
        option=option,
        chat_id=option.message.chat_id,
        kind=option.kind,
        model_key=option.model_key,
        prompt=option.enhanced_prompt,
        style_id=option.style_id,
        motion_id=option.motion_id,
        parameters=option.parameters,
        provider="preview",
        dedupe_key=uuid.uuid4().hex,
        status=Generation.Status.COMPLETED,
        webhook_token=uuid.uuid4().hex,
        deadline_at=timezone.now(),
    )


def simulate(person: Person, turns: int, taste_on: bool) -> tuple[float, float]:
    """The shares of turns whose first option is the person's preferred kind, and is the one they chose."""
    from django.contrib.auth import get_user_model

    from chats import services
    from generation.models import Style
    from recommender.taste import taste_reset

    names = dict(Style.objects.values_list("id", "name"))
    owner = get_user_model().objects.create_user(username=f"{person.name}-{'on' if taste_on else 'off'}")
    chat = services.chat_create(owner=owner)
    first_preferred = first_chosen = counted = 0
    for turn in range(turns):
        if not taste_on:
            taste_reset(owner=owner)
        # Now and then they pick their model in the composer; those turns are not counted.
        picked = turn % PICKS_MODEL_EVERY == PICKS_MODEL_EVERY - 1
        reply = services.message_post(
            chat=chat, text=_request(person, turn), preferred_model=person.model if picked else ""
        )
        options = list(reply.options.all())
        best = max(options, key=lambda o: _liking(person, o, names))  # the first of the best-liked
        _generate(owner, best)
        if not picked:
            counted += 1
            first_preferred += _preferred(person, options[0])
            first_chosen += best is options[0]
    return first_preferred / counted, first_chosen / counted


def no_history_check() -> tuple[int, int]:
    """Replies to a person who has generated nothing, through the whole path, against the offline recommender
    alone: (same, compared)."""
    from django.contrib.auth import get_user_model

    from chats import services
    from recommender.offline import recommend

    owner = get_user_model().objects.create_user(username="newcomer")
    same = 0
    for subject in SUBJECTS:
        chat = services.chat_create(owner=owner)
        reply = services.message_post(chat=chat, text=subject)
        alone = recommend(text=subject)
        saved = [(o.model_key, o.style_id, o.reason, o.enhanced_prompt) for o in reply.options.all()]
        same += saved == [(d.model_key, d.style_id, d.reason, d.enhanced_prompt) for d in alone.options]
    return same, len(SUBJECTS)


def timing(person: Person) -> tuple[float, float, float]:
    """Median milliseconds of reading the taste of a person after their turns, and of the offline reply for them
    without the taste and with it (read and applied)."""
    import statistics
    import time

    from chats.models import Chat
    from recommender.offline import recommend
    from recommender.taste import offline_reply_tasted, taste_read
    from recommender.types import Preference

    chat = Chat.objects.filter(owner__username=f"{person.name}-on").first()
    reads, plain, tasted = [], [], []
    for subject in SUBJECTS:
        start = time.perf_counter()
        taste = taste_read(chat_id=chat.pk)
        reads.append(time.perf_counter() - start)
        start = time.perf_counter()
        reply = recommend(text=subject)
        plain.append(time.perf_counter() - start)
        offline_reply_tasted(
            taste=taste, reply=reply, text=subject, has_image=False, history=[], preference=Preference()
        )
        tasted.append(time.perf_counter() - start + reads[-1])
    return tuple(statistics.median(values) * 1000 for values in (reads, plain, tasted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--min-gain", type=float, help="exit 1 when taste adds fewer points than this")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="taste-bench-") as data_dir:
        os.environ.update(RATE_LIMIT_MESSAGES="100000/minute", LOG_LEVEL="WARNING", ANTHROPIC_API_KEY="")
        from bench.recommender_eval import _setup_django

        _setup_django(data_dir)
        print(f"{'person':8} {'model':14} {'format':9} {'taste off':>10} {'taste on':>10}   first is chosen: off, on")
        rates = []
        for person in PEOPLE:
            off = simulate(person, args.turns, taste_on=False)
            on = simulate(person, args.turns, taste_on=True)
            rates.append((off, on))
            print(
                f"{person.name:8} {person.model:14} {person.format:9} {off[0]:>10.0%} {on[0]:>10.0%}"
                f"   {off[1]:>15.0%} {on[1]:>4.0%}"
            )
        off = sum(r[0][0] for r in rates) / len(rates)
        on = sum(r[1][0] for r in rates) / len(rates)
        gain = (on - off) * 100
        chosen_off = sum(r[0][1] for r in rates) / len(rates)
        chosen_on = sum(r[1][1] for r in rates) / len(rates)
        print(f"\npreferred kind offered first: taste off {off:.1%}, taste on {on:.1%}, difference {gain:+.1f} points")
        print(
            f"the option they chose offered first: taste off {chosen_off:.1%}, taste on {chosen_on:.1%}, "
            f"difference {(chosen_on - chosen_off) * 100:+.1f} points"
        )
        for person, why in ((PEOPLE[0], "their model is among the offered"), (PEOPLE[-1], "it is asked for")):
            read, plain, tasted = timing(person)
            print(
                f"time ({person.name}, {why}): taste read {read:.1f} ms; offline reply {plain:.1f} ms alone, "
                f"{tasted:.1f} ms with the taste (medians)"
            )
        same, compared = no_history_check()
        print(f"no history: {same}/{compared} replies exactly as the recommender alone gives them")

        from django.db import connections

        connections.close_all()

    failed = same != compared or (args.min_gain is not None and gain < args.min_gain)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
