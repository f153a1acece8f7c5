"""What each person's choices teach the recommender: the styles, motions, models and formats they generate,
keep, cancel or pass over, and how replies use it (re-ranked and re-worded after either recommender answers).

Learned from the facts our database already holds (generations and the options they came from), read in two
queries per reply, and never sent anywhere: the Claude agent is not told a person's taste.
"""

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from generation.model_catalogue import model_labels
from generation.model_schema import TEXT_TO_IMAGE
from generation.selectors import generation_choices_query
from higgs_project.database import Read

from .models import TasteReset
from .types import OptionDraft, Preference, Reply, ReplySink

# The newest generations and offered options a taste is read from: enough to know a person, cheap to read.
RECENT_GENERATIONS = 200
RECENT_OPTIONS = 150
# What each fact says about the kind of option it concerns.
GENERATED = 1.0
KEPT = 1.0  # downloaded, animated, another take
ASKED = 2.0  # a model picked by name in the composer, then generated
CANCELLED = -1.0  # counts against, in place of the generation
PASSED_OVER = -0.25  # offered beside one they generated, and left
# A value is a favourite once it has this much weight and this share of its axis.
FAVOURITE_MIN = 2.0
FAVOURITE_SHARE = 1 / 3
# "You often choose ...": only of what was chosen at least this often.
OFTEN = 3
# Taste is used once the person has made this many choices since the last reset.
MIN_CHOICES = 3
AXES = ("model", "entry", "format")
FORMAT_WORDS = {"vertical": "vertical", "square": "square", "wide": "wide"}


def aspect_format(parameters: dict | None) -> str:
    """The format of an option's aspect_ratio ("9:16" is vertical): vertical, square or wide; "" when it has none."""
    ratio = str((parameters or {}).get("aspect_ratio") or "")
    width, _, height = ratio.partition(":")
    try:
        w, h = float(width), float(height)
    except ValueError:
        return ""
    if w <= 0 or h <= 0:
        return ""
    return "square" if w == h else "vertical" if w < h else "wide"


@dataclass(frozen=True)
class Liked:
    """One value of an axis the person chose: its name for people, how often chosen, kept and the weight."""

    value: str
    name: str
    chosen: int
    kept: int
    weight: float


@dataclass
class Taste:
    """A person's taste since their last reset."""

    generated: int = 0
    kept: int = 0
    cancelled: int = 0
    passed_over: int = 0
    since: object = None  # the reset's moment, or None
    # axis -> value -> weight / chosen count / kept count / name
    weights: dict = field(default_factory=lambda: {axis: defaultdict(float) for axis in AXES})
    chosen: dict = field(default_factory=lambda: {axis: Counter() for axis in AXES})
    kept_by: dict = field(default_factory=lambda: {axis: Counter() for axis in AXES})
    names: dict = field(default_factory=dict)
    entry_kind: dict = field(default_factory=dict)  # entry id -> "style" or "motion"

    @property
    def choices(self) -> int:
        return self.generated - self.cancelled

    @property
    def active(self) -> bool:
        return self.choices >= MIN_CHOICES

    def favourites(self, axis: str) -> dict[str, float]:
        """The axis' favourite values with their share of its positive weight."""
        weights = self.weights[axis]
        total = sum(w for w in weights.values() if w > 0)
        if not total:
            return {}
        return {
            value: weight / total
            for value, weight in weights.items()
            if weight >= FAVOURITE_MIN and weight / total >= FAVOURITE_SHARE
        }

    def liked(self, axis: str, kind: str = "") -> list[Liked]:
        """What the person chose on an axis, most weight first (for the page); `kind` "style" or "motion"."""
        rows = [
            Liked(value, self.names.get(value, value), self.chosen[axis][value], self.kept_by[axis][value], weight)
            for value, weight in self.weights[axis].items()
            if self.chosen[axis][value] and (not kind or self.entry_kind.get(value) == kind)
        ]
        return sorted(rows, key=lambda r: (-r.weight, -r.chosen, r.name.casefold()))


def _option_values(kind: str, model_key: str, style_id, motion_id, parameters) -> dict[str, str]:
    entry = style_id or motion_id
    return {"model": model_key or "", "entry": str(entry) if entry else "", "format": aspect_format(parameters)}


def _choices(*, limit: int, owner_id=None, chat_id=None):
    from chats.models import Chat

    owner = owner_id if owner_id is not None else Subquery(Chat.objects.filter(pk=chat_id).values("owner_id")[:1])
    since = Subquery(TasteReset.objects.filter(owner_id=OuterRef("owner_id")).values("reset_at")[:1])
    return generation_choices_query(owner=owner, since=since, limit=limit)


# Read before every reply: its SQL is compiled once.
_choices_read = Read(_choices)


def taste_read(*, owner_id=None, chat_id=None) -> Taste:
    """The person's taste (`owner_id`, or the owner of the chat `chat_id`) from their newest generations and the
    options beside them, since their last reset: two queries, one when they have generated nothing."""
    from chats.models import Option

    taste = Taste()
    if owner_id is None and chat_id is None:
        return taste
    rows = _choices_read.sync(RECENT_GENERATIONS, owner_id=owner_id, chat_id=chat_id)
    if not rows:
        return taste
    taste.since = rows[0]["since"]
    # A result animated later: its file is the image of an image-to-video generation.
    animated = {url.rsplit("/", 1)[-1] for url in (r["image_url"] for r in rows) if url}
    generated_options, completed = set(), set()
    # Per reply, what the person took from it: leaving an option says nothing of what it shares with that.
    taken: dict = defaultdict(lambda: {axis: set() for axis in AXES})
    for row in reversed(rows):
        if row["retry_of_id"]:
            continue  # the same choice tried again
        values = _option_values(row["kind"], row["model_key"], row["style_id"], row["motion_id"], row["parameters"])
        if row["option_id"]:
            generated_options.add(row["option_id"])
            for axis, value in values.items():
                taken[row["option__message_id"]][axis].add(value)
        name = row["option__style__name"] or row["option__motion__name"]
        if values["entry"]:
            taste.entry_kind[values["entry"]] = "style" if row["style_id"] else "motion"
            if name:
                taste.names[values["entry"]] = name
        if row["status"] == "cancelled":
            taste.generated += 1
            taste.cancelled += 1
            _add(taste, values, CANCELLED)
            continue
        taste.generated += 1
        _add(taste, values, GENERATED, chosen=True)
        if row["asked_model"] and row["asked_model"] == row["model_key"]:
            _add(taste, {"model": row["model_key"]}, ASKED)
        file_name = (row["result__file"] or "").rsplit("/", 1)[-1]
        # Kept: downloaded, animated, or another take of a result they already had.
        kept = (
            int(row["downloaded_at"] is not None)
            + int(bool(file_name) and file_name in animated)
            + int(row["option_id"] in completed)
        )
        if row["status"] == "completed" and row["option_id"]:
            completed.add(row["option_id"])
        if kept:
            taste.kept += 1
            _add(taste, values, KEPT * kept, kept=True)
    if taken:
        # Options offered beside one they generated, and left.
        for option in Option.objects.filter(message_id__in=list(taken)).values(
            "id", "message_id", "kind", "model_key", "style_id", "motion_id", "parameters"
        )[:RECENT_OPTIONS]:
            if option.pop("id") in generated_options:
                continue
            took = taken[option.pop("message_id")]
            values = _option_values(**option)
            taste.passed_over += 1
            _add(taste, {axis: v for axis, v in values.items() if v not in took[axis]}, PASSED_OVER)
    labels = model_labels()
    for key in taste.weights["model"]:
        taste.names[key] = labels.get(key, key)
    return taste


def _add(taste: Taste, values: dict[str, str], weight: float, chosen: bool = False, kept: bool = False) -> None:
    for axis, value in values.items():
        if not value:
            continue
        taste.weights[axis][value] += weight
        if chosen:
            taste.chosen[axis][value] += 1
        if kept:
            taste.kept_by[axis][value] += 1


@transaction.atomic
def taste_reset(*, owner) -> None:
    """Forget what was learned: taste is read from choices made after now."""
    TasteReset.objects.update_or_create(owner=owner, defaults={"reset_at": timezone.now()})


def taste_summary(taste: Taste) -> dict:
    """The taste as the page and GET /api/me/taste show it."""

    def rows(axis, kind=""):
        return [{"value": r.value, "name": r.name, "chosen": r.chosen, "kept": r.kept} for r in taste.liked(axis, kind)]

    return {
        "generated": taste.generated,
        "kept": taste.kept,
        "cancelled": taste.cancelled,
        "passed_over": taste.passed_over,
        "in_use": taste.active,
        "since": taste.since,
        "styles": rows("entry", "style"),
        "motions": rows("entry", "motion"),
        "models": rows("model"),
        "formats": rows("format"),
    }


# Using it in a reply.


def _values(draft: OptionDraft) -> dict[str, str]:
    return _option_values(draft.kind, draft.model_key, draft.style_id, draft.motion_id, draft.parameters)


def option_score(taste: Taste, draft: OptionDraft, axes=AXES) -> float:
    """How much an option is of the kinds the person prefers: the shares of its favourite model, style or motion
    and format (0 when it is none of them)."""
    values = _values(draft)
    return sum(taste.favourites(axis).get(values[axis], 0.0) for axis in axes)


def favourite_model(taste: Taste, kind: str) -> str:
    """The model the person most prefers among those of `kind` (results of a kind come from its own models)."""
    from generation.model_catalogue import model_list

    keys = {m.key for m in model_list(kind=kind)}
    ranked = sorted(taste.favourites("model").items(), key=lambda kv: -kv[1])
    return next((key for key, _ in ranked if key in keys), "")


def options_rank(taste: Taste, options: list[OptionDraft], *, extra: list[OptionDraft] = (), count: int = 0):
    """`count` options (the recommender's number by default): the preferred kinds first, then, in one slot of
    three, the recommender's best option that is none of them (exploration); `extra` are more candidates."""
    count = count or len(options)
    if not taste.active or count < 2:
        return options
    seen, candidates = set(), []
    for draft in [*options, *extra]:
        key = (draft.model_key, draft.style_id, draft.motion_id)
        if key not in seen:
            seen.add(key)
            candidates.append(draft)
    # What every option shares (the format the person asked for) tells none of them apart.
    axes = [axis for axis in AXES if len({_values(d)[axis] for d in candidates}) > 1]
    scores = {id(d): option_score(taste, d, axes) for d in candidates}
    preferred = sorted((d for d in candidates if scores[id(d)] > 0), key=lambda d: -scores[id(d)])
    exploring = [d for d in candidates if scores[id(d)] <= 0]
    ranked: list[OptionDraft] = []

    def add(draft, limit, distinct=True):
        if len(ranked) < limit and draft not in ranked:
            if not distinct or not any(_same_entry(draft, r) for r in ranked):
                ranked.append(draft)

    reserved = (count + 1) // 3 if exploring else 0
    for draft in preferred:
        add(draft, count - reserved)
    for draft in [*exploring, *candidates]:
        add(draft, count)
    # A catalogue too small for each option to have its own style or motion.
    for draft in candidates:
        add(draft, count, distinct=False)
    return ranked


def _same_entry(a: OptionDraft, b: OptionDraft) -> bool:
    return (a.style_id or a.motion_id) == (b.style_id or b.motion_id)


def taste_words(taste: Taste, draft: OptionDraft) -> str:
    """ "You often choose vertical Soul images." for an option of what the person often chose, else ""."""
    values = _values(draft)
    often = {
        axis: values[axis]
        for axis in AXES
        if values[axis] in taste.favourites(axis) and taste.chosen[axis][values[axis]] >= OFTEN
    }
    if "model" not in often and "entry" not in often:
        return ""  # a format alone says little of an option
    noun = "images" if draft.kind == TEXT_TO_IMAGE else "videos"
    parts = []
    if "format" in often:
        parts.append(FORMAT_WORDS[often["format"]])
    if "model" in often:
        parts.append(taste.names.get(often["model"], often["model"]))
    parts.append(noun)
    if "entry" in often and taste.names.get(often["entry"]):
        parts.append(f"in {taste.names[often['entry']]}")
    return "You often choose " + " ".join(parts) + "."


def claim_source(taste: Taste) -> str:
    """What a reason's taste words may draw on (recommender.claims): the person's own frequent choices."""
    names = [
        FORMAT_WORDS.get(value) or taste.names.get(value, value)
        for axis in AXES
        for value in taste.favourites(axis)
        if taste.chosen[axis][value] >= OFTEN
    ]
    return "often choose " + " ".join(names) if names else ""


def option_reword(taste: Taste, draft: OptionDraft) -> OptionDraft:
    if not taste.active:
        return draft
    words = taste_words(taste, draft)
    if not words or words in draft.reason:
        return draft
    return dataclasses.replace(draft, reason=f"{draft.reason.rstrip()} {words}")


class TasteSink(ReplySink):
    """Passes a reply on with each option worded for the person's taste. The Claude path: its options are shown
    as they stream, so they keep Claude's order (re-ranking them afterwards would move what the person saw)."""

    def __init__(self, sink: ReplySink, taste: Taste):
        self.sink = sink
        self.taste = taste

    async def text(self, delta: str) -> None:
        await self.sink.text(delta)

    async def option(self, draft: OptionDraft) -> None:
        await self.sink.option(option_reword(self.taste, draft))


def offline_reply_tasted(
    *, taste: Taste, reply: Reply, text: str, has_image: bool, history: list[str], preference: Preference
) -> Reply:
    """The offline reply ranked and worded for the person's taste, before any of it is shown. When none of its
    options is on the person's favourite model (and the composer asked for none), the offline recommender is
    asked for the same options on that model too, as more candidates."""
    if not taste.active or len(reply.options) < 2:
        return reply
    extra = []
    favourite = "" if preference.model_key else favourite_model(taste, reply.options[0].kind)
    if favourite and all(draft.model_key != favourite for draft in reply.options):
        from . import offline

        more = offline.recommend(
            text=text, has_image=has_image, history=history, preference=Preference(preference.kind, favourite)
        )
        extra = [draft for draft in more.options if draft.kind == reply.options[0].kind]
    ranked = options_rank(taste, reply.options, extra=extra, count=len(reply.options))
    return dataclasses.replace(reply, options=[option_reword(taste, draft) for draft in ranked])


def taste_get(*, owner) -> Taste:
    """The person's taste for their page: as replies read it, and since when."""
    from generation.models import Motion, Style

    taste = taste_read(owner_id=owner.pk)
    unnamed = [value for value in taste.entry_kind if value not in taste.names]
    if unnamed:
        # Generations asked for through the API without an option: their entries by id.
        for model in (Style, Motion):
            taste.names.update(
                (str(pk), name) for pk, name in model.objects.filter(pk__in=unnamed).values_list("pk", "name")
            )
    if taste.since is None:
        taste.since = TasteReset.objects.filter(owner=owner).values_list("reset_at", flat=True).first()
    return taste
