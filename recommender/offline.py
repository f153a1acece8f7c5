"""The offline recommender, used when no Claude key is set: it reads a request, matches it against the
enabled catalogue and writes options from templates, without calling any outside service.

What it knows about words, and the sentences its prompts are written from, are data in recommender/concepts.toml;
this module holds the logic: words reduced to their dictionary form (lemminflect), the catalogue ranked by BM25
(bm25s) with our own weights on top, and the prompt and reason built from the pick.

Deterministic: the same words, history and catalogue always give the same reply (no randomness, and
nothing depends on the order of a set).
"""

import logging
import re
import tomllib
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import bm25s
import lemminflect

from generation.model_catalogue import model_list, model_resolve
from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO, image_required, parameters_schema
from generation.models import GenerationModel, Motion, Style
from recommender import asked as asking
from recommender.asked import Asked, Fitted
from recommender.types import OptionDraft, Preference, Reply

# bm25s sets its own logger to DEBUG when imported ("Building index from tokens" at every catalogue change).
logging.getLogger("bm25s").setLevel(logging.WARNING)

RECOMMENDER = "offline"
OPTION_COUNT = 3
MIN_PROMPT_WORDS = 150
MAX_PROMPT_WORDS = 300
SUBJECT_MAX_WORDS = 60
NUMBERS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
}

# A term found in an entry's name says more about it than one found in its description.
NAME_WEIGHT = 3.0
DESCRIPTION_WEIGHT = 1.0
# A concept (rain, golden hour, rotation) carries more than a bare shared word.
CONCEPT_WEIGHT = 1.0
WORD_WEIGHT = 0.7
# What the newest message of a follow-up ("make it darker") asks for outweighs the earlier ones.
FOLLOW_UP_WEIGHT = 1.5
# Once an option covers a term, the next options count it for less, so that they differ.
COVERED_DECAY = 0.7
# Siblings in the catalogue ("Arc Left", "Arc Right") make poor alternatives to each other.
FAMILY_PENALTY = 0.6
# BM25's saturation (how little a term's second and third mention add) and length normalisation (how much a long
# description's matches are discounted): mild, so that a long description still counts what it names.
BM25_K1 = 1.2
BM25_B = 0.3
# Scores within 2 % of each other are a tie, which the entry earlier in catalogue order wins: length normalisation
# alone should not overturn the catalogue's order.
NEAR_TIE = 1.02


# Words.

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# How a word of concepts.toml is written: lower-case letters and digits, a hyphen between the two words of a phrase
# (matching reads words one at a time and in pairs, so a phrase has two words at most).
_TABLE_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?(?:-[a-z0-9]+(?:'[a-z]+)?)?")


@lru_cache(maxsize=50_000)
def _lemma(word: str) -> str:
    """The word's dictionary form: "mice" → "mouse", "leaves" → "leaf", "flew" → "fly", "raining" → "rain".

    A word in -ing or -ed reads as its verb; any other word that can be a noun reads as one, in its shortest form
    ("a rose" does not rise, "fireworks" is "firework"); adjectives and adverbs keep theirs, so "darker" stays the
    change it asks for. A word the dictionary lacks is read as a noun ("vlogs" → "vlog")."""
    lemmas = lemminflect.getAllLemmas(word)
    if not lemmas:
        if len(word) <= 3 or not word.isalpha():
            return word
        lemmas = lemminflect.getAllLemmasOOV(word, upos="NOUN")
    nouns = lemmas.get("NOUN", ())
    verbs = lemmas.get("VERB", ()) + lemmas.get("AUX", ())
    if word.endswith(("ing", "ed")) and any(verb != word for verb in verbs):
        return min((verb for verb in verbs if verb != word), key=lambda verb: (len(verb), verb))
    for forms in (nouns, verbs):
        if forms:
            return min(forms, key=lambda form: (len(form), form))
    return word


def _words(text: str) -> list[tuple[str, str]]:
    """(lemma, the word as written), in order."""
    text = text.casefold().replace("’", "'").replace("‘", "'")
    # "café" and "cafe" are one word.
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    found = []
    for raw in _WORD_RE.findall(text):
        surface = raw.split("'")[0]
        if surface:
            found.append((_lemma(surface), surface))
    return found


def _lemmas(text: str) -> list[str]:
    return [stem for stem, _ in _words(text)]


def _lemma_set(words: str) -> frozenset[str]:
    return frozenset(_lemmas(words))


# The concept tables, as data.

CONCEPTS_FILE = Path(__file__).with_name("concepts.toml")
WORD_LISTS = (
    "stopwords greetings instructions back_references video image photo_references follow_up_starters "
    "preposition_starters now_starters greeting_openers generic"
).split()


class ConceptsError(ValueError):
    """concepts.toml has an entry the recommender cannot read; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class Concepts:
    words: dict[str, str]  # each list of [words], its words separated by spaces
    changes: dict[str, tuple[str, ...]]
    opposite_changes: dict[str, str]
    concepts: dict[str, tuple[str, str, str]]  # name: (how a reason names it, its words, its request-only words)
    false_friends: frozenset[str]
    camera_only: dict[str, tuple[str, ...]]
    emphasis: dict[str, float]
    implied: dict[str, dict[str, float]]
    imposing: tuple[str, ...]
    imposing_without_people: tuple[str, ...]
    people_concepts: tuple[str, ...]
    subject_concepts: frozenset[str]
    opposite_moods: dict[str, str]
    model_strengths: dict[str, tuple[str, ...]]
    # The sentences of [prompt]: each table by name, lists as tuples.
    prompt: dict


def _table(data: dict, where: str, keys: set[str] | None = None, required: set[str] | None = None) -> dict:
    """A table of the file, with only the known keys (None: any) and every required key (None: all known)."""
    if not isinstance(data, dict):
        raise ConceptsError(f"{where} must be a table")
    keys = set(data) if keys is None else keys
    unknown = sorted(set(data) - keys)
    if unknown:
        raise ConceptsError(f"{where} has an unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")
    missing = sorted((keys if required is None else required) - set(data))
    if missing:
        raise ConceptsError(f"{where} lacks {missing[0]!r}")
    return data


def _word_list(value, where: str, phrases: bool = False) -> list[str]:
    """Words separated by spaces (or, with `phrases`, a list of phrases), each checked."""
    if phrases:
        if not isinstance(value, list) or not value:
            raise ConceptsError(f"{where} must be a non-empty list of phrases")
        items = value
    else:
        if not isinstance(value, str) or not value.split():
            raise ConceptsError(f"{where} must be a non-empty string of words")
        items = value.split()
    for item in items:
        parts = item.split(" ") if isinstance(item, str) else [None]
        words = sum(len(part.split("-")) for part in parts if isinstance(part, str))
        if words > 2 or not all(isinstance(part, str) and _TABLE_WORD_RE.fullmatch(part) for part in parts):
            raise ConceptsError(
                f"{where}: {item!r} is not a lower-case word or two-word phrase (letters and digits, a hyphen or a "
                "space between the two words)"
            )
    return items


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
        raise ConceptsError(f"{where} must be a number above 0 and at most 10, not {value!r}")
    return float(value)


def _named_concepts(names: list[str], concepts: dict, where: str) -> tuple[str, ...]:
    for name in names:
        if name not in concepts:
            raise ConceptsError(f"{where} names {name!r}, which is not a [concepts.…] table")
    return tuple(names)


def concepts_read(text: str, source: str = "concepts.toml") -> Concepts:
    """The concept tables of a concepts.toml text, checked: a bad entry raises ConceptsError naming it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConceptsError(f"{source} is not valid TOML: {error}") from error
    sections = {
        *("words", "changes", "opposite_changes", "concepts", "reading", "implied", "matching", "model_strengths"),
        "prompt",
    }
    _table(data, source, sections)

    words = _table(data["words"], "[words]", set(WORD_LISTS))
    for name in WORD_LISTS:
        _word_list(words[name], f"[words] {name}")

    changes = _table(data["changes"], "[changes]", required=set())
    for change, phrases in changes.items():
        _word_list(phrases, f"[changes] {change}", phrases=True)
    opposites = _table(data["opposite_changes"], "[opposite_changes]", required=set())
    for change, opposite in opposites.items():
        for name in (change, opposite):
            if name not in changes:
                raise ConceptsError(f"[opposite_changes] {change} names {name!r}, which is not a [changes] entry")

    concepts: dict[str, tuple[str, str, str]] = {}
    for name, entry in _table(data["concepts"], "[concepts]", required=set()).items():
        where = f"[concepts.{name}]"
        if not re.fullmatch(r"[a-z0-9]+", name):
            raise ConceptsError(f"{where}: a concept's name must be lower-case letters and digits")
        _table(entry, where, {"reason", "words", "request_only"}, {"reason", "words"})
        if not isinstance(entry["reason"], str) or not entry["reason"].strip():
            raise ConceptsError(f"{where} reason must be a non-empty string")
        _word_list(entry["words"], f"{where} words")
        if "request_only" in entry:
            _word_list(entry["request_only"], f"{where} request_only")
        concepts[name] = (entry["reason"], entry["words"], entry.get("request_only", ""))

    reading = _table(data["reading"], "[reading]", {"false_friends", "camera_only", "emphasis"})
    false_friends = _word_list(reading["false_friends"], "[reading] false_friends", phrases=True)
    camera_only = _table(reading["camera_only"], "[reading] camera_only", required=set())
    for word, following in camera_only.items():
        _word_list(word, "[reading] camera_only")
        _word_list(following, f"[reading] camera_only {word}", phrases=True)
    emphasis = _table(reading["emphasis"], "[reading] emphasis", required=set())
    _named_concepts(list(emphasis), concepts, "[reading] emphasis")
    for name, value in emphasis.items():
        _number(value, f"[reading] emphasis {name}")

    implied = _table(data["implied"], "[implied]", required=set())
    _named_concepts(list(implied), concepts, "[implied]")
    for name, others in implied.items():
        _named_concepts(list(_table(others, f"[implied] {name}", required=set())), concepts, f"[implied] {name}")
        for other, share in others.items():
            _number(share, f"[implied] {name} {other}")

    matching = _table(
        data["matching"],
        "[matching]",
        {"imposing", "imposing_without_people", "people_concepts", "subject_concepts", "opposite_moods"},
    )
    lists = {
        key: _named_concepts(_word_list(matching[key], f"[matching] {key}"), concepts, f"[matching] {key}")
        for key in ("imposing", "imposing_without_people", "people_concepts", "subject_concepts")
    }
    moods = _table(matching["opposite_moods"], "[matching] opposite_moods", required=set())
    _named_concepts([*moods, *moods.values()], concepts, "[matching] opposite_moods")

    strengths = {}
    for key, names in _table(data["model_strengths"], "[model_strengths]", required=set()).items():
        where = f"[model_strengths] {key}"
        strengths[key] = _named_concepts(_word_list(names, where), concepts, where)

    return Concepts(
        words={name: " ".join(words[name].split()) for name in WORD_LISTS},
        changes={change: tuple(phrases) for change, phrases in changes.items()},
        opposite_changes=dict(opposites),
        concepts=concepts,
        false_friends=frozenset(false_friends),
        camera_only={word: tuple(following) for word, following in camera_only.items()},
        emphasis={name: float(value) for name, value in emphasis.items()},
        implied={name: {other: float(share) for other, share in others.items()} for name, others in implied.items()},
        imposing=lists["imposing"],
        imposing_without_people=lists["imposing_without_people"],
        people_concepts=lists["people_concepts"],
        subject_concepts=frozenset(lists["subject_concepts"]),
        opposite_moods=dict(moods),
        model_strengths=strengths,
        prompt=_prompt_tables(data, concepts, changes),
    )


# The sentences each [prompt.…] table must have: for each scene, light and mood of [prompt], and these.
_PROMPT_NEEDS = {
    "settings": ("scenes", "generic", "graphic"),
    "compositions": ("scenes", "generic", "graphic", "closeup", "aerial"),
    "textures": ("scenes", "generic"),
    "medium_textures": ("graphic", "painting", "illustration", "anime", "render3d"),
    "openings": ("graphic", "photo", "painting", "illustration", "anime", "render3d"),
    "scene_actions": ("scenes", "generic"),
    "light_sentences": ("lights", "night_city", "default"),
    "palettes": (
        "vivid",
        "retro",
        "night",
        "golden",
        "studio",
        "fog",
        "flash",
        "dark",
        "bright",
        "cool",
        "warm",
        "default",
    ),
    "weather": ("rain", "snow", "fog"),
    "weather_actions": ("rain", "snow", "fog", "fire", "golden"),
    "mood_sentences": ("moods", "golden", "night", "studio", "default"),
    "change_sentences": ("changes",),
    "cinematic_sentences": ("image", "video"),
    "closings": (TEXT_TO_IMAGE, TEXT_TO_VIDEO, IMAGE_TO_VIDEO),
}
# The placeholders a sentence may hold.
_PLACEHOLDERS = {"openings": {"subject"}, "pacing": {"length"}, "framing": {"ratio"}}


def _sentence_text(value, where: str, placeholders: set[str] | frozenset[str] = frozenset()) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConceptsError(f"{where} must be a non-empty string")
    found = set(re.findall(r"{(\w*)}", value))
    if found != set(placeholders):
        wanted = ", ".join(f"{{{name}}}" for name in sorted(placeholders)) or "no placeholder"
        raise ConceptsError(f"{where} must hold {wanted}, not {', '.join(sorted(found)) or 'none'}")
    return value


def _prompt_tables(data: dict, concepts: dict, changes: dict) -> dict:
    singles = {"graphic_light", "text_closing", "pacing", "framing"}
    prompt = _table(
        data["prompt"], "[prompt]", {"scenes", "scene_aliases", "lights", "moods", "extras", *singles, *_PROMPT_NEEDS}
    )
    tables: dict = {}
    for key in ("scenes", "lights", "moods"):
        tables[key] = _named_concepts(_word_list(prompt[key], f"[prompt] {key}"), concepts, f"[prompt] {key}")
    aliases = _table(prompt["scene_aliases"], "[prompt] scene_aliases", required=set())
    _named_concepts(list(aliases), concepts, "[prompt] scene_aliases")
    for alias, scene in aliases.items():
        if scene not in tables["scenes"]:
            raise ConceptsError(f"[prompt] scene_aliases {alias} names {scene!r}, which is not one of the scenes")
    tables["scene_aliases"] = dict(aliases)
    for key in singles:
        tables[key] = _sentence_text(prompt[key], f"[prompt] {key}", _PLACEHOLDERS.get(key, frozenset()))
    if not isinstance(prompt["extras"], list) or not prompt["extras"]:
        raise ConceptsError("[prompt] extras must be a non-empty list of sentences")
    tables["extras"] = tuple(_sentence_text(extra, "[prompt] extras") for extra in prompt["extras"])
    lists = {**tables, "changes": tuple(changes)}
    for name, needs in _PROMPT_NEEDS.items():
        required = {key for need in needs for key in lists.get(need, (need,))}
        table = _table(prompt[name], f"[prompt.{name}]", required=required)
        placeholders = _PLACEHOLDERS.get(name, frozenset())
        sentences = {}
        for key, value in table.items():
            where = f"[prompt.{name}] {key}"
            if name == "compositions":
                if not isinstance(value, list) or not value:
                    raise ConceptsError(f"{where} must be a non-empty list of sentences")
                sentences[key] = tuple(_sentence_text(item, where) for item in value)
            else:
                sentences[key] = _sentence_text(value, where, placeholders)
        tables[name] = sentences
    return tables


TABLES = concepts_read(CONCEPTS_FILE.read_text(encoding="utf-8"), source=str(CONCEPTS_FILE.name))

STOPWORDS = _lemma_set(TABLES.words["stopwords"])
GREETINGS = _lemma_set(TABLES.words["greetings"])
INSTRUCTIONS = _lemma_set(TABLES.words["instructions"])
BACK_REFERENCES = _lemma_set(TABLES.words["back_references"])
VIDEO_WORDS = _lemma_set(TABLES.words["video"])
IMAGE_WORDS = _lemma_set(TABLES.words["image"])
PHOTO_REFERENCES = _lemma_set(TABLES.words["photo_references"])
FOLLOW_UP_STARTERS = _lemma_set(TABLES.words["follow_up_starters"])
PREPOSITION_STARTERS = _lemma_set(TABLES.words["preposition_starters"])
NOW_STARTERS = _lemma_set(TABLES.words["now_starters"])
GREETING_OPENERS = _lemma_set(TABLES.words["greeting_openers"])
CHANGES = TABLES.changes
OPPOSITE_CHANGES = TABLES.opposite_changes
CONCEPTS = TABLES.concepts


def _build_triggers(for_request: bool) -> dict[str, tuple[str, ...]]:
    triggers: dict[str, list[str]] = {}
    for concept, (_, shared, request_only) in CONCEPTS.items():
        for phrase in (f"{shared} {request_only}" if for_request else shared).split():
            key = " ".join(_lemmas(phrase.replace("-", " ")))
            if key and concept not in triggers.setdefault(key, []):
                triggers[key].append(concept)
    return {key: tuple(concepts) for key, concepts in triggers.items()}


def _build_changes() -> dict[str, str]:
    return {" ".join(_lemmas(phrase)): change for change, phrases in CHANGES.items() for phrase in phrases}


FALSE_FRIENDS = TABLES.false_friends
CAMERA_ONLY = {
    _lemma(word): tuple(_lemma(next_word) for next_word in following) for word, following in TABLES.camera_only.items()
}
EMPHASIS = TABLES.emphasis
IMPLIED = TABLES.implied
IMPOSING = TABLES.imposing
IMPOSING_WITHOUT_PEOPLE = TABLES.imposing_without_people
PEOPLE_CONCEPTS = TABLES.people_concepts
IMPOSING_PENALTY = 0.25
# How much a photo leans toward realistic looks when its words name no look: enough to break ties, no more.
PHOTO_REALISM_PRIOR = 0.3
# A request word this long that the catalogue does not use may be a misspelt name ("tumbler" for "Tumblr").
RESPELL_MIN_LENGTH = 6
SUBJECT_CONCEPTS = TABLES.subject_concepts
SUBJECT_MATCH_WEIGHT = 0.6
OPPOSITE_MOODS = TABLES.opposite_moods

TRIGGERS = _build_triggers(for_request=False)
REQUEST_TRIGGERS = _build_triggers(for_request=True)
CHANGE_TRIGGERS = _build_changes()
CHANGE_WORDS = frozenset(key for key in CHANGE_TRIGGERS if " " not in key) | _lemma_set("more less")
# Words that say how to make something, not what: a message made only of these has no subject of its own.
NOT_SUBJECT = (
    STOPWORDS | GREETINGS | INSTRUCTIONS | BACK_REFERENCES | VIDEO_WORDS | IMAGE_WORDS | CHANGE_WORDS | NOW_STARTERS
)
# Words too common in requests or in catalogue descriptions to say anything about a match.
GENERIC = (STOPWORDS | GREETINGS | INSTRUCTIONS | BACK_REFERENCES | IMAGE_WORDS | CHANGE_WORDS) | _lemma_set(
    TABLES.words["generic"]
)


def _term_hits(text: str, for_request: bool = False) -> Iterator[tuple[str, str]]:
    """Each concept ("#rain") and telling word of a text, with the word that brought it, in order and as often as
    the text names it."""
    triggers = REQUEST_TRIGGERS if for_request else TRIGGERS
    words = _words(text)
    for i, (stem, surface) in enumerate(words):
        if i + 1 < len(words):
            pair = f"{stem} {words[i + 1][0]}"
            for concept in triggers.get(pair, ()):
                yield f"#{concept}", f"{surface} {words[i + 1][1]}"
            if f"{surface} {words[i + 1][1]}" in FALSE_FRIENDS:
                continue
        following = words[i + 1][0] if i + 1 < len(words) else ""
        if stem in CAMERA_ONLY and following not in CAMERA_ONLY[stem]:
            continue  # waves crashing are not a crash zoom
        for concept in triggers.get(stem, ()):
            yield f"#{concept}", surface
        if stem not in GENERIC and (len(stem) > 2 or stem.isdigit()):
            yield stem, surface
    becoming = _BECOMING.search(text) if for_request else None
    if becoming:
        yield "#transform", becoming.group(0).strip()


def _terms(text: str, for_request: bool = False) -> dict[str, str]:
    """The concepts ("#rain") and telling words a text contains, each with the first word that brought it."""
    terms: dict[str, str] = {}
    for term, surface in _term_hits(text, for_request):
        terms.setdefault(term, surface)
    return terms


def _changes(words: list[tuple[str, str]]) -> list[str]:
    stems = [stem for stem, _ in words]
    keys = stems + [f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False)]
    return list(dict.fromkeys(CHANGE_TRIGGERS[key] for key in keys if key in CHANGE_TRIGGERS))


# Reading the request.

_MEDIUM_NOUNS = (
    r"image|picture|pic|photo|photograph|shot|video|clip|animation|illustration|drawing|painting|render|portrait"
    r"|scene|version|gif|reel|sketch|artwork|close-up|closeup|macro|timelapse|time-lapse|hyperlapse"
)
# "Turn him into stone" asks for a transformation; "turn it into a video" only for another medium.
_BECOMING = re.compile(
    r"\b(turn|turns|turning|turned|transform\w*|morph\w*)\s+(\S+\s+){0,3}?into\s+"
    rf"(?!((an?|the|some)\s+)?(\S+\s+){{0,2}}({_MEDIUM_NOUNS}|movie|film|poster|wallpaper|story|post)s?\b)",
    re.IGNORECASE,
)
_MEDIUM_ADJECTIVES = (
    r"short|quick|new|simple|beautiful|cinematic|realistic|photorealistic|detailed|nice|cool|vertical|square|wide"
    r"|aerial|3d|4k|hd|stunning|dramatic|moody|vintage|watercolou?r|oil|pencil|digital|anime|cartoon|close-up"
    r"|closeup|product|studio|fashion|editorial|high-quality|\d+[\s-]?(?:s|sec|second)s?(?: long)?|\d{1,2}:\d{1,2}"
    r"|8k|1080p|widescreen|horizontal|portrait-format"
)
_CAMERA_VERBS = r"spin|rotate|orbit|circle|fly|pan|zoom|move|dolly|track|push|pull|glide|swoop|sweep|tilt|crane|drift"
_LEADING = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(hi|hey|hello|yo|ok|okay|so|well|please)\b[\s,!.]*",
        r"^(can|could|would|will) you( please)?\s+",
        r"^i(['’]d| would)? (like|love|want|need)( you)?( to)?( see| have| get| make| create)?\s+",
        r"^(let['’]s|lets|let us)\s+",
        r"^(now|then|also|and|but)\b[\s,]*",
        r"^(make|create|generate|give|show|draw|paint|render|design|imagine|produce|shoot|film(?! noir)|do|turn|animate"
        r"|build|get)( me| us)?\s+",
        r"^(it|this|that)\s+(into\s+)?",
        r"^(\d|two|three|four|five|six|seven|eight|a couple of)\s+(different\s+|more\s+)?"
        r"(variations?|versions?|variants?|takes|shots|images|pictures|pics|photos)\s+(of|on|for)\s+",
        r"^(an?\s+)?(aerial|drone|fpv|tracking|crane|dolly|slow[- ]motion|timelapse|time-lapse)\s+"
        r"(shot|footage|view|flight|video|clip)s?\s+(of|over|above|through|across|along|around|into)?\s*",
        rf"^((an?|the|some|one)\s+)?(({_MEDIUM_ADJECTIVES})[\s,]+){{0,3}}({_MEDIUM_NOUNS})s?\s+(of|showing|with|where|for)\s+",
        rf"^(an?\s+)?((slow|slowly|quick|quickly|fast|smooth|smoothly|gentle|gently|dramatic|dynamic)\s+)?"
        rf"(the camera\s+|camera\s+)?({_CAMERA_VERBS})(s|es|ing)?( the camera)?"
        r"( slowly| smoothly| quickly| fast| gently)?( all the way)?"
        r"(\s+(around|round|over|through|across|into|in on|in to|in|out from|out of|out|past|along|toward"
        r"|towards|up to|down to|above|under|behind|up|down|to))?\s+",
    )
]
_TRAILING = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"[\s,]*\b(please|thanks|thank you)[\s.!?]*$",
        r"(\s*,\s*|\s+in\s+|\s+as\s+an?\s+)((vertical|horizontal|square|portrait|landscape|widescreen|phone"
        r"|desktop|mobile|instagram|tiktok)\s*)+(format|orientation|wallpaper|background|story|post|reel)?[\s.!?]*$",
        r"\s*,\s*(in\s+)?(slow[\s-]?motion|slowmo|time-?lapse|hyperlapse)[\s.!?]*$",
        r"(\s*,\s*|\s+in\s+)(4k|8k|hd|16:9|9:16|1:1|4:5|3:4)[\s.!?]*$",
        r"\s*,\s*(cinematic|photorealistic|realistic|hyperrealistic|detailed|highly detailed|ultra detailed)[\s.!?]*$",
        r"\s*,\s*(an?\s+)?(product|studio|fashion|editorial|close-up|wide)?\s*(shot|photo|photograph|image|picture|render"
        r"|packshot)[\s.!?]*$",
        r"(?<!music)[\s,]+(video|clip|animation|gif|reel)[\s.!?]*$",
        r"[\s,]*\b(as|into|in|for)\s+(an?\s+)?(short\s+|quick\s+)?(video|clip|animation|image|picture|photo|gif"
        r"|reel|still)[\s.!?]*$",
        r"[\s.!?,;:]+$",
    )
]


@lru_cache(maxsize=4096)
def _subject_phrase(text: str) -> str:
    """The part of a message that names what to show: "Make me a photo of a fox, please" → "a fox"."""
    phrase = " ".join(text.split())
    for _ in range(8):
        before = phrase
        for pattern in _LEADING + _TRAILING:
            phrase = pattern.sub("", phrase).strip()
        if phrase == before:
            break
    phrase = _without_settings(phrase)
    phrase = re.sub(r"\b(my|our|your)\b", "the", phrase, flags=re.IGNORECASE)
    words = phrase.split()
    if len(words) > SUBJECT_MAX_WORDS:
        phrase = " ".join(words[:SUBJECT_MAX_WORDS]).rstrip(",;:")
    return phrase


_SETTING_TAIL = re.compile(r"(\s*,\s*|\s+(?=(?:in|for|as|at|with|on|and)\s))")


def _without_settings(phrase: str) -> str:
    """The phrase less its trailing settings ("…, slow push-in", "… for a reel in 4K", "… 10 seconds"): they set the
    options' parameters and would read oddly as part of the subject."""
    for _ in range(6):
        cuts = [m.start() for m in _SETTING_TAIL.finditer(phrase) if m.start() > 0]
        tail_words = phrase.split()
        if cuts and asking.only_settings(phrase[cuts[-1] :]):
            phrase = phrase[: cuts[-1]].rstrip(" ,;:")
            continue
        # Without a comma, only formats and lengths go: "a dancer spinning" keeps its spin.
        for size in (4, 3, 2, 1):
            if len(tail_words) > size and asking.only_settings(" ".join(tail_words[-size:]), camera=False):
                phrase = " ".join(tail_words[:-size]).rstrip(" ,;:")
                break
        else:
            break
    return phrase


@dataclass(frozen=True)
class _Message:
    text: str
    words: tuple[tuple[str, str], ...]
    subject: str | None
    follows_up: bool
    medium: str | None  # "video", "image" or None when the message does not say
    meaningful: bool
    camera: str = ""  # the camera words that make it a video ("slow push-in")
    reference: str = ""  # the words that point at an earlier result ("animate it")


# A chat's earlier messages are read again for every reply: each is read once per process.
@lru_cache(maxsize=4096)
def _read_message(text: str) -> _Message:
    words = tuple(_words(text))
    stems = [stem for stem, _ in words]
    phrase = _subject_phrase(text)
    # Settings alone ("5 seconds is enough", "four variations please") name no subject of their own.
    content = [stem for stem in _lemmas(asking.without_settings(phrase)) if stem not in NOT_SUBJECT]
    first = stems[0] if stems else ""
    second = stems[1] if len(stems) > 1 else ""
    follows_up = (
        not content
        or any(stem in BACK_REFERENCES for stem in stems)
        or first in FOLLOW_UP_STARTERS
        or first in CHANGE_WORDS
        or first in PREPOSITION_STARTERS
        or (first in NOW_STARTERS and (second in PREPOSITION_STARTERS or second in CHANGE_WORDS))
    )
    meaningful = any(stem not in STOPWORDS | GREETINGS | INSTRUCTIONS for stem in stems)
    return _Message(
        text=" ".join(text.split()),
        words=words,
        subject=phrase if content else None,
        follows_up=follows_up,
        medium=asking.medium(text),
        meaningful=meaningful,
        camera=asking.camera_words(text),
        reference=asking.result_reference(text),
    )


@dataclass(frozen=True)
class _Request:
    subject: str | None
    follows_up: bool
    kind: str
    weights: dict[str, float]
    surfaces: dict[str, str]
    changes: list[str]
    # Terms added as priors rather than read from the words; a reason never cites them.
    implicit: frozenset[str]
    # The newest message when it adjusts an earlier idea ("make it darker"), for the reply to acknowledge.
    adjustment: str
    # The format, length, resolution and number of images the words ask for.
    asked: Asked = Asked()
    # Terms whose only word in the request is a colour: they add to a match, never make one.
    colours: frozenset[str] = frozenset()
    # The newest message's words for an earlier result ("animate it"), when it has them.
    reference: str = ""


@lru_cache(maxsize=4096)
def _message_terms(text: str) -> tuple[tuple[str, str], ...]:
    """The concepts and telling words of a message, its settings ("16:9", "5 seconds") left out."""
    return tuple(_terms(asking.without_settings(text), for_request=True).items())


def _read_request(text: str, has_image: bool, history: list[str], kind: str = "") -> tuple[_Request, _Message]:
    messages = [_read_message(t) for t in history if t and t.strip()]
    current = _read_message(text or "")
    messages.append(current)

    # The thread starts at the newest message that names a subject of its own; later ones adjust it.
    start = None
    for i, message in enumerate(messages):
        if message.subject and (start is None or not message.follows_up):
            start = i
    thread = messages[start:] if start is not None else [current]
    subject = messages[start].subject if start is not None else None
    merged = []
    if subject:
        # "at the beach" after "a dog" reads as "a dog at the beach".
        for message in thread[1:]:
            addition = _subject_phrase(message.text)
            if message.subject and _lemmas(addition)[:1] and _lemmas(addition)[0] in PREPOSITION_STARTERS:
                subject = f"{subject} {addition}"
                merged.append(message)
    follows_up = len(thread) > 1

    weights: dict[str, float] = {}
    surfaces: dict[str, str] = {}
    changes: list[str] = []
    for message in thread:
        weight = FOLLOW_UP_WEIGHT if follows_up and message is current else 1.0
        for term, surface in _message_terms(message.text):
            emphasis = EMPHASIS.get(term.removeprefix("#"), 1.0) if term.startswith("#") else 1.0
            weights[term] = max(weights.get(term, 0.0), weight * emphasis)
            surfaces.setdefault(term, surface)
        for change in _changes(message.words):
            opposite = OPPOSITE_CHANGES.get(change)
            if opposite in changes:
                changes.remove(opposite)
            if change not in changes:
                changes.append(change)

    if kind:
        pass  # asked for in the composer
    elif has_image:
        kind = IMAGE_TO_VIDEO
    else:
        medium = next((m.medium for m in reversed(thread) if m.medium), None)
        kind = TEXT_TO_VIDEO if medium == "video" else TEXT_TO_IMAGE
    for concept, implied in IMPLIED.items():
        for other, share in implied.items():
            if f"#{concept}" in weights:
                weights.setdefault(f"#{other}", weights[f"#{concept}"] * share)
    priors = {}
    if kind != TEXT_TO_IMAGE:
        # Prefer motions that are real camera moves over effects, unless the words ask for an effect.
        priors["#camera"] = 0.6
        if kind == IMAGE_TO_VIDEO and not surfaces:
            priors.update({"#cinematic": 1.0, "#calm": 0.5})
    elif _art_medium(weights) == "photo":
        # A photo whose words name no look of their own is best served true to life.
        priors["#realistic"] = PHOTO_REALISM_PRIOR
    implicit = frozenset(term for term in priors if term not in weights)
    for term, weight in priors.items():
        weights.setdefault(term, weight)

    adjusts = follows_up and current is not thread[0] and current not in merged
    adjustment = current.text if adjusts and (_terms(current.text, for_request=True) or _changes(current.words)) else ""
    colour_words = asking.words().colours
    request = _Request(
        subject=subject,
        follows_up=follows_up,
        kind=kind,
        weights=weights,
        surfaces=surfaces,
        changes=changes,
        implicit=implicit,
        adjustment=adjustment,
        asked=asking.asked_read([message.text for message in thread]),
        colours=frozenset(term for term, surface in surfaces.items() if surface.casefold() in colour_words),
        reference=current.reference,
    )
    return request, current


# Matching the catalogue.


@dataclass(frozen=True)
class _Entry:
    id: uuid.UUID
    name: str
    description: str
    name_terms: frozenset[str]
    description_terms: frozenset[str]


@dataclass(frozen=True)
class _Pick:
    entry: _Entry
    matched: tuple[str, ...]  # the request's terms it matched, strongest first
    fallback: bool  # chosen by catalogue order because too few entries matched


@dataclass(frozen=True)
class _Catalogue:
    """The enabled styles or motions, in catalogue order, with a BM25 index over each one's name and description."""

    entries: list[_Entry]
    index: bm25s.BM25 | None

    def scores(self, term: str) -> list[float]:
        """Each entry's BM25 score for one term (0 where the entry lacks it)."""
        if self.index is None or term not in self.index.vocab_dict:
            return [0.0] * len(self.entries)
        return self.index.get_scores([term]).tolist()


# Each catalogue with the rows it was built from: reading and indexing 120 descriptions takes longer than a reply
# should, so it is done once and again only when a row changes.
_CATALOGUES: dict[str, tuple[tuple, _Catalogue]] = {}


def _document(hits: list[str]) -> list[str]:
    """The terms BM25 indexes for an entry: its words as often as they occur, each concept once (a description
    that names a face, skin and lips is no more a portrait than one that names a face)."""
    return [term for i, term in enumerate(hits) if not term.startswith("#") or term not in hits[:i]]


def _load_catalogue(model) -> _Catalogue:
    rows = tuple(
        model.objects.filter(enabled=True).order_by("sort_order", "name", "id").values_list("id", "name", "description")
    )
    cached = _CATALOGUES.get(model._meta.label)
    if cached and cached[0] == rows:
        return cached[1]
    entries, documents = [], []
    for entry_id, name, description in rows:
        name_hits = [term for term, _ in _term_hits(name)]
        description_hits = [term for term, _ in _term_hits(description or "")]
        entries.append(
            _Entry(
                id=entry_id,
                name=name.strip(),
                description=" ".join((description or "").split()),
                name_terms=frozenset(name_hits),
                description_terms=frozenset(description_hits),
            )
        )
        documents.append(_document(name_hits + description_hits))
    index = None
    if entries:
        index = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        index.index(documents, show_progress=False)
    catalogue = _Catalogue(entries=entries, index=index)
    _CATALOGUES[model._meta.label] = (rows, catalogue)
    return catalogue


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        first, second = diffs[0], diffs[-1]
        return len(diffs) == 2 and second == first + 1 and a[first] == b[second] and a[second] == b[first]
    short, long = sorted((a, b), key=len)
    i = next((i for i, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]


def _respelled(request: _Request, entries: list[_Entry]) -> _Request:
    """The request with a typo'd name read as meant: "tumbler" finds "Tumblr". Only words that no entry uses and
    that are one edit away from a word of an entry's name, both long enough that a real word is rarely mistaken."""
    known = {term for entry in entries for term in entry.name_terms | entry.description_terms}
    name_words = sorted(
        {
            term
            for entry in entries
            for term in entry.name_terms
            if not term.startswith("#") and len(term) >= RESPELL_MIN_LENGTH
        }
    )
    weights, surfaces = dict(request.weights), dict(request.surfaces)
    for term, weight in request.weights.items():
        if term.startswith("#") or term in known or len(term) < RESPELL_MIN_LENGTH:
            continue
        meant = next((word for word in name_words if _one_edit_apart(term, word)), None)
        if meant and meant not in weights:
            weights[meant] = weight
            surfaces[meant] = request.surfaces.get(term, term)
    if len(weights) == len(request.weights):
        return request
    return replace(request, weights=weights, surfaces=surfaces)


def _broadness(entry: _Entry) -> int:
    """0 for the catalogue's all-rounders ("General"), 1 for the rest: the order of the broad picks."""
    return 0 if "#allpurpose" in entry.name_terms | entry.description_terms else 1


def _normal_name(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _family(name: str) -> str | None:
    """The first word of a name of several ("Arc" of "Arc Left"): siblings make poor alternatives to each other."""
    words = name.casefold().split()
    return words[0] if len(words) > 1 else None


def _pick_entries(
    catalogue: _Catalogue,
    weights: dict[str, float],
    count: int,
    imposing: tuple[str, ...] = (),
    colours: frozenset[str] = frozenset(),
) -> list[_Pick]:
    """The best-matching entries, each adding something the earlier picks did not; then catalogue order.

    Each term of the request counts by its BM25 score for the entry, times how much the request weighs it, more
    when the entry's name has it. Entries that bring one of the `imposing` concepts into a frame that did not ask
    for it count for less; a `colours` term (a colour word of the request) adds to a match but never makes one on
    its own."""
    entries = catalogue.entries
    unwanted = [f"#{concept}" for concept in imposing if f"#{concept}" not in weights]
    bm25 = {term: catalogue.scores(term) for term in weights}
    position = {entry.id: i for i, entry in enumerate(entries)}
    decay = dict.fromkeys(weights, 1.0)
    picks: list[_Pick] = []
    taken_ids: set[uuid.UUID] = set()
    taken_names: set[str] = set()
    taken_families: set[str] = set()

    def score(entry: _Entry) -> tuple[float, tuple[str, ...]]:
        total, contributions = 0.0, []
        for term, weight in weights.items():
            relevance = bm25[term][position[entry.id]]
            if relevance <= 0.0:
                continue
            place = NAME_WEIGHT if term in entry.name_terms else DESCRIPTION_WEIGHT
            base = CONCEPT_WEIGHT if term.startswith("#") else WORD_WEIGHT
            contribution = weight * base * relevance * place * decay[term]
            total += contribution
            contributions.append((contribution, term))
        if contributions and all(term in colours for _, term in contributions):
            return 0.0, ()
        if any(term in entry.name_terms or term in entry.description_terms for term in unwanted):
            total *= IMPOSING_PENALTY
        family = _family(entry.name)
        if family and family in taken_families:
            total *= FAMILY_PENALTY
        return total, tuple(term for _, term in sorted(contributions, key=lambda c: -c[0]))

    while len(picks) < count:
        best, best_score, best_matched = None, 0.0, ()
        for entry in entries:
            if entry.id in taken_ids or _normal_name(entry.name) in taken_names:
                continue
            entry_score, matched = score(entry)
            # Clearly greater: on a near tie the entry earlier in catalogue order wins.
            if entry_score > best_score * NEAR_TIE + 1e-9:
                best, best_score, best_matched = entry, entry_score, matched
        if best is None:
            break
        picks.append(_Pick(entry=best, matched=best_matched, fallback=False))
        taken_ids.add(best.id)
        taken_names.add(_normal_name(best.name))
        taken_families.add(_family(best.name) or "")
        for term in best_matched:
            decay[term] *= COVERED_DECAY

    # Too few matches: fill with the all-rounders, then the first entries in catalogue order, distinct names first.
    broad = sorted(entries, key=_broadness)
    for distinct_names in (True, False):
        for entry in broad:
            if len(picks) >= count:
                break
            if entry.id in taken_ids or (distinct_names and _normal_name(entry.name) in taken_names):
                continue
            picks.append(_Pick(entry=entry, matched=(), fallback=True))
            taken_ids.add(entry.id)
            taken_names.add(_normal_name(entry.name))
    return picks


# Choosing models.

# What each model is especially good at, as concepts. Unknown models simply have none.
MODEL_STRENGTHS = TABLES.model_strengths


def models_for_kind(kind: str) -> list[GenerationModel]:
    """The enabled models of a kind an option can name (one that needs a reference image is not offered
    for a text-to-image idea: the generate step switches to it when the person gives one)."""
    return [m for m in model_list(kind=kind) if kind == IMAGE_TO_VIDEO or not image_required(m.input_schema)]


def _takes_catalogue(model: GenerationModel, kind: str) -> bool:
    return model.takes_style if kind == TEXT_TO_IMAGE else model.takes_motion


def _rank_models(kind: str, weights: dict[str, float], asked: Asked = Asked()) -> list[GenerationModel]:  # noqa: B008
    """The models that can honour the asked format, length, resolution and count first; among them the one that
    applies the style or motion itself, then the others by fit, then by list order."""
    models = models_for_kind(kind)
    order = {model.key: i for i, model in enumerate(models)}

    def strength(model: GenerationModel) -> float:
        return sum(weights.get(f"#{concept}", 0.0) for concept in MODEL_STRENGTHS.get(model.key, ()))

    return sorted(
        models,
        key=lambda m: (
            -asking.fit_score(m.input_schema, asked),
            not _takes_catalogue(m, kind),
            -strength(m),
            order[m.key],
        ),
    )


# Writing the prompt.

PROMPT = TABLES.prompt
SCENES = PROMPT["scenes"]
SCENE_ALIASES = PROMPT["scene_aliases"]
SETTINGS = PROMPT["settings"]
COMPOSITIONS = PROMPT["compositions"]
TEXTURES = PROMPT["textures"]
MEDIUM_TEXTURES = PROMPT["medium_textures"]
OPENINGS = PROMPT["openings"]
SCENE_ACTIONS = PROMPT["scene_actions"]
GRAPHIC_LIGHT = PROMPT["graphic_light"]
LIGHTS = PROMPT["lights"]
LIGHT_SENTENCES = PROMPT["light_sentences"]
PALETTES = PROMPT["palettes"]
WEATHER = PROMPT["weather"]
WEATHER_ACTIONS = PROMPT["weather_actions"]
MOODS = PROMPT["moods"]
MOOD_SENTENCES = PROMPT["mood_sentences"]
CHANGE_SENTENCES = PROMPT["change_sentences"]
CINEMATIC_SENTENCES = PROMPT["cinematic_sentences"]
CLOSINGS = PROMPT["closings"]
TEXT_CLOSING = PROMPT["text_closing"]
PACING = PROMPT["pacing"]
FRAMING = PROMPT["framing"]
EXTRAS = PROMPT["extras"]


def _strongest(weights: dict[str, float], names: tuple[str, ...]) -> str | None:
    present = [name for name in names if f"#{name}" in weights]
    if not present:
        return None
    return max(present, key=lambda name: (weights[f"#{name}"], -names.index(name)))


def _scene(weights: dict[str, float]) -> str:
    names = SCENES + tuple(SCENE_ALIASES)
    scene = _strongest(weights, names)
    return SCENE_ALIASES.get(scene, scene) if scene else "generic"


def _light(weights: dict[str, float], scene: str) -> str:
    """The one light the scene is lit by, in a fixed order of precedence: night beats a sunset, which beats studio."""
    for light in LIGHTS:
        if f"#{light}" in weights:
            if light == "studio" and scene != "product":
                continue
            if light == "night" and scene in ("urban", "interior"):
                return "night_city"
            return light
    return "default"


def _palette(weights: dict[str, float], light: str) -> str:
    for name in ("vivid", "retro"):
        if f"#{name}" in weights:
            return PALETTES[name]
    light = "night" if light == "night_city" else light
    if light in PALETTES:
        return PALETTES[light]
    for name in ("cool", "warm"):
        if f"#{name}" in weights:
            return PALETTES[name]
    return PALETTES["default"]


def _mood(weights: dict[str, float], light: str, scene: str) -> str:
    mood = _strongest(weights, MOODS)
    if mood:
        return MOOD_SENTENCES[mood]
    if light in ("golden", "night"):
        return MOOD_SENTENCES[light]
    if light == "night_city":
        return MOOD_SENTENCES["night"]
    if scene == "product":
        return MOOD_SENTENCES["studio"]
    return MOOD_SENTENCES["default"]


def _art_medium(weights: dict[str, float]) -> str:
    return _strongest(weights, ("graphic", "painting", "illustration", "anime", "render3d")) or "photo"


def _composition(weights: dict[str, float], scene: str, index: int) -> str:
    framing = _strongest(weights, ("closeup", "aerial")) if scene != "graphic" else None
    options = COMPOSITIONS[framing or scene]
    return options[index % len(options)]


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else f"{text}."


def _capitalised(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:] if phrase else phrase


_USAGE_NOTE = re.compile(r"^(perfect|great|ideal|ideally|works well|good)\b", re.IGNORECASE)
_ADDRESSES_THE_PERSON = re.compile(r"\b(you|your|yours|you're|you’re)\b", re.IGNORECASE)


def _description_sentences(description: str) -> list[str]:
    """The sentences of a description about the look itself: not its sales line ("Perfect for…"), nor those
    that speak to the person ("…while you pose"), which read oddly inside a prompt."""
    sentences = [part.strip() for part in re.split(r"(?<=[.!?])\s+", description.strip()) if part.strip()]
    return [
        _sentence(part) for part in sentences if not _USAGE_NOTE.match(part) and not _ADDRESSES_THE_PERSON.search(part)
    ]


def _lowered(text: str) -> str:
    """Lower-case the first letter to follow a colon, unless the word is an acronym (CCTV, VHS)."""
    if len(text) > 1 and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _look_sentences(entry: _Entry, kind: str) -> str:
    """The style's or motion's own character, woven in from its description (or its name when it has none)."""
    if kind == TEXT_TO_IMAGE:
        lead = f"Give it the “{entry.name}” look"
        by_name = (
            ", reading the preset's name as the brief for its finish and applying it with a light touch so the "
            "subject stays the hero."
        )
    else:
        lead = f"The camera and motion follow the “{entry.name}” preset"
        by_name = ", performed as its name suggests, smooth and deliberate rather than showy."
    sentences = _description_sentences(entry.description)
    if not sentences:
        return lead + by_name
    if ":" in sentences[0]:
        return " ".join([f"{lead}.", *sentences])
    return " ".join([f"{lead}: {_lowered(sentences[0])}", *sentences[1:]])


def _fit(parts: list[tuple[int, str]]) -> str:
    """Join sentences into a prompt of MIN to MAX words: drop the least essential (highest rank) when too long,
    add general craft notes before the closing line when too short."""
    unique: dict[str, int] = {}
    for rank, text in parts:
        if text and text not in unique:
            unique[text] = rank
    parts = [(rank, text) for text, rank in unique.items()]

    def count() -> int:
        return sum(len(text.split()) for _, text in parts)

    while count() > MAX_PROMPT_WORDS:
        drop = max(range(len(parts)), key=lambda i: (parts[i][0], i))
        if parts[drop][0] == 0:
            break
        del parts[drop]
    for extra in EXTRAS:
        if count() >= MIN_PROMPT_WORDS:
            break
        parts.insert(len(parts) - 1, (9, extra))
    words = " ".join(text for _, text in parts).split()
    if len(words) > MAX_PROMPT_WORDS:
        words = words[:MAX_PROMPT_WORDS]
        words[-1] = words[-1].rstrip(",;:—-") + ("" if words[-1].endswith(".") else ".")
    return " ".join(words)


def _changes_sentences(request: _Request) -> list[tuple[int, str]]:
    return [(1, CHANGE_SENTENCES[change]) for change in request.changes]


def _seconds(parameters: dict, model: GenerationModel) -> int | None:
    """How long the option's clip runs: its own duration, else the model's default (None when it has neither)."""
    value = parameters.get("duration")
    if value is None:
        value = parameters_schema(model.input_schema)["properties"].get("duration", {}).get("default")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _pacing(parameters: dict, model: GenerationModel) -> str:
    seconds = _seconds(parameters, model)
    length = f"Over about {NUMBERS.get(seconds, seconds)} seconds" if seconds else "Over the length of the clip"
    return PACING.format(length=length)


def _framing(parameters: dict) -> str:
    ratio = parameters.get("aspect_ratio")
    return FRAMING.format(ratio=ratio) if ratio and ratio != "auto" else ""


def _image_prompt(request: _Request, pick: _Pick, index: int, parameters: dict | None = None) -> str:
    weights = request.weights
    scene = _scene(weights)
    light = _light(weights, scene)
    medium = _art_medium(weights)
    # A poster or a logo is laid out rather than lit.
    layout = "graphic" if medium == "graphic" else scene
    weather = [WEATHER[name] for name in ("rain", "snow", "fog") if f"#{name}" in weights and name != light]
    parts = [
        (0, OPENINGS[medium].format(subject=_capitalised(request.subject or "the subject"))),
        (2, SETTINGS[layout]),
        (1, _composition(weights, layout, index)),
        (1, _framing(parameters or {})),
        (1, GRAPHIC_LIGHT if layout == "graphic" else LIGHT_SENTENCES[light]),
        *[(2, sentence) for sentence in weather if layout != "graphic"],
        (2, _palette(weights, light)),
        (3, MEDIUM_TEXTURES.get(medium) or TEXTURES[scene]),
        (3, _mood(weights, light, scene)),
        (4, CINEMATIC_SENTENCES["image"] if "#cinematic" in weights else ""),
        (0, _look_sentences(pick.entry, TEXT_TO_IMAGE)),
        *_changes_sentences(request),
        (4, TEXT_CLOSING if "#text" in weights else CLOSINGS[TEXT_TO_IMAGE]),
    ]
    return _fit(parts)


def _text_video_prompt(
    request: _Request, pick: _Pick, index: int, parameters: dict | None = None, model: GenerationModel | None = None
) -> str:
    weights = request.weights
    scene = _scene(weights)
    light = _light(weights, scene)
    actions = [WEATHER_ACTIONS[name] for name in ("rain", "snow", "fog", "fire", "golden") if f"#{name}" in weights]
    parts = [
        (0, f"{_capitalised(request.subject or 'the subject')}, filmed as a single continuous shot."),
        (2, SETTINGS[scene]),
        (
            2,
            f"For the opening frame, {_lowered(_composition(weights, scene, index))}",
        ),
        (1, _framing(parameters or {})),
        (1, LIGHT_SENTENCES[light]),
        (3, _palette(weights, light)),
        (0, _look_sentences(pick.entry, TEXT_TO_VIDEO)),
        (2, _pacing(parameters or {}, model) if model else ""),
        (3, SCENE_ACTIONS[scene]),
        *[(3, sentence) for sentence in actions[:1]],
        (4, _mood(weights, light, scene)),
        (5, CINEMATIC_SENTENCES["video"] if "#cinematic" in weights else ""),
        *_changes_sentences(request),
        (4, CLOSINGS[TEXT_TO_VIDEO]),
    ]
    return _fit(parts)


def _image_video_prompt(
    request: _Request,
    pick: _Pick,
    current: _Message,
    parameters: dict | None = None,
    model: GenerationModel | None = None,
) -> str:
    weights = request.weights
    scene = _scene(weights)
    light = _light(weights, scene) if request.surfaces else "default"
    direction = ""
    if current.meaningful and current.text:
        words = current.text.split()
        direction = f"The direction for this shot: “{' '.join(words[:40]).rstrip('.!?')}”."
    earlier = ""
    if request.follows_up and request.subject:
        earlier = f"It continues the earlier idea of {request.subject}."
    if light == "default":
        light_sentence = (
            "Keep the light direction and colour temperature of the source image, so the animation feels "
            "continuous with it."
        )
    else:
        light_sentence = f"Let the light settle into this look as the shot plays. {LIGHT_SENTENCES[light]}"
    mood = _strongest(weights, MOODS)
    parts = [
        (0, "Animate the uploaded image as a short cinematic shot, using it as the exact first frame."),
        (
            0,
            "Keep everything that makes it recognisable: the subject's identity, face, proportions and clothing, "
            "the setting, and the original composition and colours.",
        ),
        (0, direction),
        (1, earlier),
        (0, _look_sentences(pick.entry, IMAGE_TO_VIDEO)),
        (1, _framing(parameters or {})),
        (2, _pacing(parameters or {}, model) if model else ""),
        (2, SCENE_ACTIONS[scene] if scene != "generic" else SCENE_ACTIONS["portrait"]),
        (3, light_sentence),
        (4, MOOD_SENTENCES[mood] if mood else ""),
        *_changes_sentences(request),
        (3, CLOSINGS[IMAGE_TO_VIDEO]),
    ]
    return _fit(parts)


# Writing the reason and the reply.
#
# A reason says only what is true (recommender/claims.py checks it): the person's own words, quoted; the entry's
# own description; the model's label and summary; and the settings the option carries. Never a mood or a setting
# of our own reading ("the calm mood" for a request that said "slowly").

MATCH_REASONS = (
    "“{name}” picks up {words} from your request: {character}.",
    "For {words} in your request, “{name}” brings its own look: {character}.",
    "“{name}” answers {words}: {character}.",
)
NAME_ONLY_REASONS = (
    "“{name}” picks up {words} from your request.",
    "“{name}” answers {words} in your request.",
    "“{name}” goes with {words} in your request.",
)
NAMED_REASON = "“{name}” is named for {words} in your request"
# The catalogue's order or an implied look chose these, not the person's words: say so plainly.
OWN_LOOK_REASON = "“{name}” is offered for its own look"
BROAD_REASON = "“{name}” is a broader pick to compare"


def _character(description: str, max_words: int = 16) -> str:
    """The first clause of a description's first sentence about the look, to follow a colon."""
    sentences = _description_sentences(description)
    if not sentences:
        return ""
    first = sentences[0].rstrip(".!?… ")
    if len(first.split()) > max_words:
        for boundary in re.finditer(r"\s*(,|;|:|—|\s-\s)\s*", first):
            if len(first[: boundary.start()].split()) >= 5:
                first = first[: boundary.start()]
                break
    return _lowered(first.replace(": ", " — "))


def _said(pick: _Pick, request: _Request) -> list[str]:
    """The person's own words the entry matched on, strongest first: at most two, never a colour alone."""
    surfaces: list[str] = []
    for term in pick.matched:
        surface = request.surfaces.get(term, "")
        if not surface or term in request.implicit or term == "#camera":
            continue
        if any(surface in other or other in surface for other in surfaces):
            continue
        surfaces.append(surface)
        if len(surfaces) == 2:
            break
    colours = asking.words().colours
    if all(surface.casefold() in colours for surface in surfaces):
        return []
    return surfaces


def _quoted(surfaces: list[str]) -> str:
    return " and ".join(f"“{surface}”" for surface in surfaces)


_APPLIED_CLAUSE = re.compile(r"\b(written into|spelled out in|carried by) (the|its) prompt\b", re.IGNORECASE)


def _summary(model: GenerationModel) -> str:
    """The model's own summary, less a clause on how it applies a look (the reason says that itself)."""
    clauses = [c.strip() for c in (model.summary or "").split(";") if c.strip() and not _APPLIED_CLAUSE.search(c)]
    summary = "; ".join(clauses).rstrip(". ")
    first = summary.split(" ", 1)[0].removesuffix("'s").removesuffix("’s")
    # A name ("Higgsfield's", "DoP's") keeps its capital; a sentence's first word does not.
    if first and (first in model.label or first[1:] != first[1:].lower() or first == "Higgsfield"):
        return summary
    return _lowered(summary)


def _model_reason(model: GenerationModel, kind: str, fitted: Fitted | None = None) -> str:
    noun = "style" if kind == TEXT_TO_IMAGE else "motion"
    if _takes_catalogue(model, kind):
        how = f"{model.label} applies the {noun} preset by id"
    else:
        how = f"{model.label} gets the {noun} written into its prompt"
    summary = _summary(model)
    sentence = f"{how}: {summary}" if summary else how
    settings = asking.settings_clause(fitted, model.label) if fitted else ""
    if settings:
        sentence += f"; {settings}"
    return sentence + "."


def _reason(pick: _Pick, model: GenerationModel, request: _Request, index: int, fitted: Fitted | None = None) -> str:
    name = pick.entry.name
    character = _character(pick.entry.description) if pick.entry.description else ""
    said = _said(pick, request)
    name_terms = _lemma_set(name)
    if said and all(set(_lemmas(surface)) <= name_terms for surface in said):
        first = NAMED_REASON.format(name=name, words=_quoted(said)) + (f": {character}." if character else ".")
    elif said and character:
        first = MATCH_REASONS[index % len(MATCH_REASONS)].format(name=name, words=_quoted(said), character=character)
    elif said:
        first = NAME_ONLY_REASONS[index % len(NAME_ONLY_REASONS)].format(name=name, words=_quoted(said))
    else:
        lead = BROAD_REASON if pick.fallback else OWN_LOOK_REASON
        first = lead.format(name=name) + (f": {character}." if character else ".")
    return f"{first} {_model_reason(model, request.kind, fitted)}"


def _default_frame(request: _Request) -> dict:
    """Our own choice of frame for the scene, used where the person asked for none (an uploaded image sets the
    frame of an image-to-video option)."""
    if request.kind == IMAGE_TO_VIDEO:
        return {}
    weights = request.weights
    if "#vertical" in weights:
        return {"aspect_ratio": "9:16"}
    if "#square" in weights:
        return {"aspect_ratio": "1:1"}
    if request.kind == TEXT_TO_IMAGE and _scene(weights) == "portrait":
        return {"aspect_ratio": "3:4"}
    if request.kind == TEXT_TO_IMAGE and _scene(weights) == "product":
        return {"aspect_ratio": "1:1"}
    return {"aspect_ratio": "16:9"}


def _fitted(request: _Request, model: GenerationModel) -> Fitted:
    """The option's parameters for its model: what the person asked for, at the nearest value the model takes."""
    return asking.fit(model.input_schema, request.asked, defaults=_default_frame(request))


def _short_subject(subject: str | None) -> str:
    if not subject or len(subject.split()) > 12:
        return "your idea"
    return _lowered(subject)


def _introduction(request: _Request, picks: list[_Pick]) -> str:
    count = NUMBERS.get(len(picks), str(len(picks)))
    subject = _short_subject(request.subject)
    change = f" with “{request.adjustment.rstrip('.!?')}” worked in" if request.adjustment else ""
    if request.kind == TEXT_TO_IMAGE:
        first = (
            f"Here are {count} takes on {subject}{change}, each pairing a different style with a model that suits it."
        )
    elif request.kind == TEXT_TO_VIDEO:
        first = (
            f"Here are {count} ways to turn {subject} into a short video{change}, each with a different camera move."
        )
    else:
        first = f"Here are {count} ways to bring your image to life, each with a different camera move."
    broad = sum(1 for pick in picks if pick.fallback)
    note = ""
    if broad and any(not pick.fallback for pick in picks):
        note = " The catalogue had few close matches, so some of these are broader picks."
    elif broad and request.surfaces:
        note = " Nothing in the catalogue matched closely, so these are broad starting points."
    asked = [f"“{setting.words}”" for _, setting in request.asked.items()]
    if asked:
        listed = " and ".join([", ".join(asked[:-1]), asked[-1]] if len(asked) > 1 else asked)
        note += f" Each is set for {listed} as far as its model allows."
    if request.reference and request.kind == TEXT_TO_VIDEO:
        note += (
            " I see no picture in this chat to animate, so these make the clip from the description; attach "
            "a picture to your message to animate it exactly."
        )
    return f"{first}{note} Pick one to generate, or tell me what to change."


def _question(current: _Message) -> str:
    stems = {stem for stem, _ in current.words}
    greeting = "Hi! " if stems & GREETING_OPENERS else ""
    if current.medium == "video" and stems & PHOTO_REFERENCES:
        return (
            f"{greeting}Could you attach the photo you'd like to animate? Or describe the scene in words and "
            "I'll suggest text-to-video options."
        )
    if stems & (BACK_REFERENCES | CHANGE_WORDS | FOLLOW_UP_STARTERS):
        return (
            f"{greeting}What should I apply that to? Describe the image or video you have in mind, for example "
            "“a cinematic sunset over mountains”, and I'll suggest options."
        )
    if current.medium == "video":
        return (
            f"{greeting}What should the video show? Describe a scene, subject or mood, for example “a drone "
            "flight over a foggy forest”, or attach a photo to animate."
        )
    return (
        f"{greeting}What would you like to create? Describe a subject, scene or mood, for example “a rainy street "
        "at night”, or attach a photo and I'll suggest ways to animate it."
    )


def _empty_catalogue_reply(kind: str) -> Reply:
    if kind == TEXT_TO_IMAGE:
        text = (
            "No image styles are available yet, so I can't suggest options right now. Once the style catalogue "
            "is loaded, ask again and I'll pair your idea with styles and models."
        )
    else:
        text = (
            "No camera motions are available yet, so I can't suggest video options right now. Once the motion "
            "catalogue is loaded, ask again and I'll pair your idea with motions and models."
        )
    return Reply(content_text=text, options=[], recommender=RECOMMENDER)


# The recommender.


def _matching_weights(request: _Request) -> dict[str, float]:
    if request.kind == TEXT_TO_IMAGE and _art_medium(request.weights) != "graphic":
        return request.weights
    return {
        term: weight * (SUBJECT_MATCH_WEIGHT if term.removeprefix("#") in SUBJECT_CONCEPTS else 1.0)
        for term, weight in request.weights.items()
    }


def _imposing(request: _Request) -> tuple[str, ...]:
    without_people = (request.kind == TEXT_TO_VIDEO or _scene(request.weights) == "product") and not any(
        f"#{concept}" in request.weights for concept in PEOPLE_CONCEPTS
    )
    opposites = tuple(other for mood, other in OPPOSITE_MOODS.items() if f"#{mood}" in request.weights)
    return IMPOSING + (IMPOSING_WITHOUT_PEOPLE if without_people else ()) + opposites


def asked_in(*, text: str, history: list[str]) -> Asked:
    """The format, length, resolution and count a message asks for, with those of the earlier messages about the
    same subject ("a lighthouse, vertical" then "now as a video" keeps the vertical frame)."""
    request, _ = _read_request(text or "", False, history)
    return request.asked


def recommend(
    *, text: str, has_image: bool = False, history: list[str] | None = None, preference: Preference | None = None
) -> Reply:
    """Options for the newest message of a chat. `history` is the chat's earlier user messages, oldest first.

    A preferred kind decides the kind of every option, a preferred model is the model of every option.
    """
    preference = preference or Preference()
    request, current = _read_request(text or "", has_image, history or [], kind=preference.kind)
    if not has_image and (not current.meaningful or not request.subject):
        return Reply(content_text=_question(current), options=[], recommender=RECOMMENDER)

    resolved = model_resolve(name=preference.model_key) if preference.model_key else None
    preferred = resolved.model if resolved else None
    if preferred is not None and preferred.kind == request.kind:
        models = [preferred]
    else:
        models = _rank_models(request.kind, request.weights, request.asked)
    catalogue = _load_catalogue(Style if request.kind == TEXT_TO_IMAGE else Motion)
    if not catalogue.entries or not models:
        return _empty_catalogue_reply(request.kind)

    request = _respelled(request, catalogue.entries)
    picks = _pick_entries(catalogue, _matching_weights(request), OPTION_COUNT, _imposing(request), request.colours)
    if len(picks) == 1:
        # A catalogue of one: still offer a choice, the same look on a second model.
        picks = picks * 2

    options = []
    for index, pick in enumerate(picks):
        model = models[index % len(models)]
        fitted = _fitted(request, model)
        if request.kind == TEXT_TO_IMAGE:
            prompt = _image_prompt(request, pick, index, fitted.parameters)
        elif request.kind == TEXT_TO_VIDEO:
            prompt = _text_video_prompt(request, pick, index, fitted.parameters, model)
        else:
            prompt = _image_video_prompt(request, pick, current, fitted.parameters, model)
        is_style = request.kind == TEXT_TO_IMAGE
        options.append(
            OptionDraft(
                kind=request.kind,
                model_key=model.key,
                style_id=pick.entry.id if is_style else None,
                motion_id=None if is_style else pick.entry.id,
                enhanced_prompt=prompt,
                reason=_reason(pick, model, request, index, fitted),
                parameters=fitted.parameters,
            )
        )
    return Reply(content_text=_introduction(request, picks), options=options, recommender=RECOMMENDER)
