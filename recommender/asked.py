"""What a request asks for besides its subject and its look: a video (camera words), a format, a length, a
resolution, a number of images, or an earlier result; and how a model's own settings honour each of them.

Both recommenders read requests through here, so they agree. The words are data, in request_words.toml.
"""

import math
import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from generation.model_schema import parameters_schema

WORDS_FILE = Path(__file__).with_name("request_words.toml")
# The model fields each setting goes to, in order of preference.
FIELDS = {
    "aspect_ratio": ("aspect_ratio",),
    "duration": ("duration",),
    "resolution": ("resolution",),
    "count": ("num_images", "batch_size"),
}
NAMES = {"aspect_ratio": "aspect-ratio", "duration": "length", "resolution": "resolution", "count": "image-count"}
# What "2K" and "4K" mean as a height, for resolutions a model names that way.
NAMED_HEIGHTS = {"1k": 1080, "2k": 1440, "4k": 2160, "8k": 4320}


@dataclass(frozen=True)
class Setting:
    value: str | int  # "9:16"; seconds; a height in pixels; a number of images
    words: str  # the person's own words that asked for it


@dataclass(frozen=True)
class Asked:
    """The settings a request asks for; None where it says nothing."""

    aspect_ratio: Setting | None = None
    duration: Setting | None = None
    resolution: Setting | None = None
    count: Setting | None = None

    def items(self) -> list[tuple[str, Setting]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def __bool__(self) -> bool:
        return bool(self.items())


@dataclass(frozen=True)
class _Words:
    video: tuple[re.Pattern, ...]
    image: tuple[re.Pattern, ...]
    camera: tuple[re.Pattern, ...]
    ratio_literal: re.Pattern
    ratios: tuple[tuple[re.Pattern, str], ...]
    number_words: dict[str, int]
    seconds: re.Pattern
    minutes: re.Pattern
    lengths: tuple[tuple[re.Pattern, int], ...]
    resolutions: tuple[tuple[re.Pattern, int], ...]
    count_words: dict[str, int]
    count: re.Pattern
    references: tuple[re.Pattern, ...]
    reworks: tuple[re.Pattern, ...]
    colours: frozenset[str]
    glue: frozenset[str]


def _compile(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


@cache
def words() -> _Words:
    data = tomllib.loads(WORDS_FILE.read_text(encoding="utf-8"))
    return _Words(
        video=tuple(_compile(p) for p in data["medium"]["video"]),
        image=tuple(_compile(p) for p in data["medium"]["image"]),
        camera=tuple(_compile(p) for p in data["camera"]["patterns"]),
        ratio_literal=_compile(data["aspect_ratio"]["literal"]),
        ratios=tuple((_compile(p), ratio) for p, ratio in data["aspect_ratio"]["patterns"]),
        number_words=dict(data["duration"]["numbers"]),
        seconds=_compile(data["duration"]["seconds"]),
        minutes=_compile(data["duration"]["minutes"]),
        lengths=tuple((_compile(p), seconds) for p, seconds in data["duration"]["patterns"]),
        resolutions=tuple((_compile(p), height) for p, height in data["resolution"]["patterns"]),
        count_words=dict(data["count"]["numbers"]),
        count=_compile(data["count"]["pattern"]),
        references=tuple(_compile(p) for p in data["reference"]["patterns"]),
        reworks=tuple(_compile(p) for p in data["rework"]["patterns"]),
        colours=frozenset(data["colours"]["words"].split()),
        glue=frozenset(data["reasons"]["glue"].split()),
    )


def _plain(text: str) -> str:
    return " ".join((text or "").replace("’", "'").replace("‘", "'").split())


def _first(patterns, text: str) -> re.Match | None:
    found = [m for m in (p.search(text) for p in patterns) if m]
    return min(found, key=lambda m: m.start()) if found else None


# --- Reading one message ---


def medium(text: str) -> str | None:
    """The result the words name, "video" or "image", or None when they name none. A video noun beats an image noun,
    which beats a camera word or a length in seconds: "a photo of a dancer in slow motion" is a photo."""
    text = _plain(text)
    w = words()
    if _first(w.video, text):
        return "video"
    if _first(w.image, text):
        return "image"
    # A length in seconds is a clip's: "a 4 second loop of a candle".
    in_seconds = any(not _decade(m) for m in w.seconds.finditer(text)) or w.minutes.search(text)
    if _first(w.camera, text) or in_seconds:
        return "video"
    return None


def camera_words(text: str) -> str:
    """The first camera move or motion word of a text ("slow push-in"), or ""."""
    match = _first(words().camera, _plain(text))
    return match.group(0) if match else ""


def result_reference(text: str) -> str:
    """The words that point at a result already in the chat ("animate it", "the last one as a video"), or ""."""
    match = _first(words().references, _plain(text))
    return match.group(0) if match else ""


def result_rework(text: str) -> str:
    """The words that ask to change a result already in the chat ("that image but at night"), or ""."""
    match = _first(words().reworks, _plain(text))
    return match.group(0) if match else ""


ORDINALS = {"first": 0, "second": 1, "third": 2}


def result_ordinal(words_: str) -> int | None:
    """Which option's result the reference words name, counted from 0 ("the second one": 1); None for "it"."""
    found = re.search(r"\b(first|second|third)\b", words_ or "", re.IGNORECASE)
    return ORDINALS[found.group(1).lower()] if found else None


def _aspect_ratio(text: str) -> Setting | None:
    w = words()
    literal = w.ratio_literal.search(text)
    if literal:
        width, height = int(literal.group(1)), int(literal.group(2))
        if width and height and 1 / 4 <= width / height <= 4:
            return Setting(f"{width}:{height}", literal.group(0))
    match = None
    for pattern, ratio in w.ratios:
        found = pattern.search(text)
        if found and (match is None or found.start() < match[0].start()):
            match = (found, ratio)
    return Setting(match[1], match[0].group(0)) if match else None


def _number(word: str, table: dict[str, int]) -> int | None:
    word = word.casefold()
    return int(word) if word.isdigit() else table.get(word)


def _decade(found: re.Match) -> bool:
    """Whether a match of the seconds pattern is a decade ("90s", "2000s"), not a length."""
    said = found.group(0)
    number = int(found.group(1)) if found.group(1).isdigit() else 0
    return said[-1:].casefold() == "s" and said[-2:-1].isdigit() and number % 10 == 0 and number >= 20


def _duration(text: str) -> Setting | None:
    w = words()
    for found in w.seconds.finditer(text):
        seconds = _number(found.group(1), w.number_words)
        if seconds and not _decade(found):
            return Setting(seconds, found.group(0))
    found = w.minutes.search(text)
    if found:
        return Setting(30 if found.group(1).casefold().startswith("half") else 60, found.group(0))
    match = _first([p for p, _ in w.lengths], text)
    if match:
        seconds = next(s for p, s in w.lengths if p.pattern == match.re.pattern)
        return Setting(seconds, match.group(0))
    return None


def _resolution(text: str) -> Setting | None:
    for pattern, height in words().resolutions:
        found = pattern.search(text)
        if found:
            return Setting(height, found.group(0))
    return None


def _count(text: str) -> Setting | None:
    w = words()
    found = w.count.search(text)
    if not found:
        return None
    number = found.group(1).casefold()
    value = w.count_words["couple"] if number.startswith("a couple") else _number(number, w.count_words)
    return Setting(value, found.group(0)) if value and value > 1 else None


def asked_read(texts: list[str]) -> Asked:
    """The settings a chat's messages ask for, oldest first: a later message's setting replaces an earlier one."""
    settings: dict[str, Setting] = {}
    for text in texts:
        text = _plain(text)
        for name, reader in (
            ("aspect_ratio", _aspect_ratio),
            ("duration", _duration),
            ("resolution", _resolution),
            ("count", _count),
        ):
            setting = reader(text)
            if setting is not None:
                settings[name] = setting
    return Asked(**settings)


# --- Honouring it with a model's settings ---


def _ratio(value) -> float | None:
    parts = str(value).split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) for p in parts):
        return None
    return int(parts[0]) / int(parts[1])


def _height(value) -> int | None:
    text = str(value).strip().casefold()
    if text in NAMED_HEIGHTS:
        return NAMED_HEIGHTS[text]
    digits = text.removesuffix("p")
    return int(digits) if digits.isdigit() else None


def _as_number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else None


def _closest(candidates: list[tuple[float, object]], target: float):
    """The candidate nearest the target; on a tie the larger one (a person who asks for 7 seconds gets 8, not 6)."""
    return min(candidates, key=lambda c: (abs(c[0] - target), -c[0]))[1] if candidates else None


def nearest(field: str, prop: dict, target) -> object | None:
    """The value of `prop` (a JSON Schema property) nearest the target, in the property's own type and spelling;
    None when it has no usable value."""
    enum = prop.get("enum")
    if field == "aspect_ratio":
        wanted = _ratio(target)
        if not enum or wanted is None:
            return None
        if target in enum:
            return target
        portrait = wanted < 1

        def distance(value):
            ratio = _ratio(value)
            # Same orientation first: a person who asks for 4:5 wants a tall frame, even if 1:1 is closer.
            return ((ratio < 1) != portrait and ratio != 1, abs(math.log(ratio / wanted)))

        usable = [v for v in enum if _ratio(v) is not None]
        return min(usable, key=distance) if usable else None
    if field == "resolution":
        candidates = [(h, v) for v in enum or [] if (h := _height(v)) is not None]
        return _closest(candidates, target)
    if enum:
        candidates = [(n, v) for v in enum if (n := _as_number(v)) is not None]
        return _closest(candidates, target)
    if prop.get("type") not in ("integer", "number"):
        return None
    value = float(target)
    if "minimum" in prop:
        value = max(value, prop["minimum"])
    if "maximum" in prop:
        value = min(value, prop["maximum"])
    return round(value) if prop.get("type") == "integer" else value


def _field(props: dict, setting: str) -> str:
    return next((name for name in FIELDS[setting] if name in props), "")


def _spoken(setting: str, value) -> str:
    """A value as a reason says it: "10 seconds", "1080p", "4 images"."""
    if setting == "duration":
        return f"{value} seconds"
    if setting == "resolution":
        return f"{value}p" if str(value).isdigit() else str(value)
    if setting == "count":
        return f"{value} images"
    return str(value)


def _literal(setting: str, asked: Setting) -> bool:
    """Whether the person's words are the value itself ("9:16", "10 seconds") rather than a word for it ("vertical")."""
    words_said = asked.words.casefold()
    if setting == "aspect_ratio":
        return ":" in words_said
    return any(ch.isdigit() for ch in words_said) or any(word in words_said for word in words().number_words)


def _exact(setting: str, value, target) -> bool:
    if setting == "resolution":
        return _height(value) == target
    if setting == "aspect_ratio":
        return value == target
    return _as_number(value) == float(target)


@dataclass(frozen=True)
class Fitted:
    """A model's parameters for what was asked, and how a reason says so."""

    parameters: dict
    # (the value as said, how it meets the request): ("10 seconds", ""), ("9:16", "for “vertical”"),
    # ("8 seconds", "its closest to “10 seconds”"); "" is exactly the value asked, in the person's own terms.
    honoured: tuple[tuple[str, str], ...]
    lacking: tuple[str, ...]  # the settings asked for that the model has none of: "aspect-ratio"


def fit(schema: dict, asked: Asked, *, defaults: dict | None = None) -> Fitted:
    """The parameters of a model (its input schema) that honour what was asked, each at the nearest value the
    model accepts; `defaults` (our own choices, such as a frame for the scene) fill in what was not asked, where
    the model takes them. A model without a setting simply does not get it."""
    props = parameters_schema(schema)["properties"]
    parameters, honoured, lacking = {}, [], []
    for setting, default in (defaults or {}).items():
        name = _field(props, setting)
        if name and getattr(asked, setting) is None:
            value = nearest(setting, props[name], default)
            if value is not None:
                parameters[name] = value
    for setting, wanted in asked.items():
        name = _field(props, setting)
        value = nearest(setting, props[name], wanted.value) if name else None
        if value is None:
            lacking.append(NAMES[setting])
            continue
        parameters[name] = value
        spoken = _spoken(setting, value)
        exact = _exact(setting, value, wanted.value)
        if setting == "resolution":
            # Said as "4K" or "HD": the reason quotes the person rather than a height in pixels.
            literal = wanted.words.casefold().removesuffix("p") == spoken.casefold().removesuffix("p")
            how = "" if literal else f"{'for' if exact else 'its closest to'} “{wanted.words}”"
        elif exact:
            how = "" if _literal(setting, wanted) else f"for “{wanted.words}”"
        else:
            how = f"its closest to “{wanted.words}”"
        honoured.append((spoken, how))
    return Fitted(parameters=parameters, honoured=tuple(honoured), lacking=tuple(lacking))


def fit_score(schema: dict, asked: Asked) -> float:
    """How well a model can honour what was asked: 1 for each setting it can meet exactly, a half for a near one."""
    props = parameters_schema(schema)["properties"]
    score = 0.0
    for setting, wanted in asked.items():
        name = _field(props, setting)
        value = nearest(setting, props[name], wanted.value) if name else None
        if value is not None:
            score += 1.0 if _exact(setting, value, wanted.value) else 0.5
    return score


def settings_clause(fitted: Fitted, label: str) -> str:
    """The part of a reason that says how the asked settings were met: "9:16 for “vertical” and 10 seconds as
    asked", or that the model has no such setting."""
    exact = [spoken for spoken, how in fitted.honoured if not how]
    parts = [
        f"{spoken} {how}" if how.startswith("for") else f"{spoken}, {how}" for spoken, how in fitted.honoured if how
    ]
    if exact:
        parts.append(f"{' and '.join(exact)} as asked")
    if fitted.lacking:
        parts.append(f"{label} has no {' or '.join(fitted.lacking)} setting")
    return "; ".join(parts)


def asked_note(asked: Asked) -> str:
    """What was asked, as a line for the Claude agent's request: it names each setting and the person's words."""
    spoken = {
        "aspect_ratio": lambda v: f"aspect_ratio {v}",
        "duration": lambda v: f"duration {v} seconds",
        "resolution": lambda v: f"resolution about {v} pixels high",
        "count": lambda v: f"{v} images per generation (num_images or batch_size)",
    }
    return "; ".join(f"{spoken[name](s.value)} (“{s.words}”)" for name, s in asked.items())


# Words that only frame a setting ("in", "for my", "format"): a clause made of these and settings says nothing
# about the subject.
_FRAMING = frozenset(
    """in for a an the my our your as at with and format formatted orientation ratio aspect long length clip video
    shot shots please size sized resolution quality it make made version each one then also""".split()
)


def _blank_settings(text: str, *, camera: bool) -> tuple[str, bool]:
    """The text with its settings (and, with `camera`, camera words) blanked out, and whether it had any."""
    w = words()
    found = False

    def blank(match: re.Match) -> str:
        nonlocal found
        found = True
        return " "

    text = w.seconds.sub(lambda m: m.group(0) if _decade(m) else blank(m), _plain(text))
    patterns = [
        w.ratio_literal,
        w.minutes,
        w.count,
        *(p for p, _ in w.ratios),
        *(p for p, _ in w.lengths),
        *(p for p, _ in w.resolutions),
        *(w.camera if camera else ()),
    ]
    for pattern in patterns:
        text = pattern.sub(blank, text)
    return " ".join(text.split()), found


def only_settings(clause: str, *, camera: bool = True) -> bool:
    """Whether a clause is made only of settings (and, with `camera`, camera words): "vertical for a reel",
    "10 seconds, in 4K", "slow push-in"."""
    text, found = _blank_settings(clause, camera=camera)
    rest = [word for word in re.findall(r"[a-z0-9']+", text.casefold()) if word not in _FRAMING]
    return found and not rest


def without_settings(text: str) -> str:
    """The text with its format, length, resolution and count words blanked out, so that "square" or "reel" set
    the options' parameters without also choosing their look."""
    return _blank_settings(text, camera=False)[0]
