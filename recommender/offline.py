"""The offline recommender, used when no Claude key is set: it reads a request, matches it against the
enabled catalogue and writes options from templates, without calling any outside service.

Deterministic: the same words, history and catalogue always give the same reply (no randomness, and
nothing depends on the order of a set).
"""

import math
import re
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, replace

from generation.model_catalogue import model_list, model_resolve
from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO, image_required, parameters_schema
from generation.models import GenerationModel, Motion, Style
from recommender import asked as asking
from recommender.asked import Asked, Fitted
from recommender.types import OptionDraft, Preference, Reply

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


# Words.

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _stem(word: str) -> str:
    """A light stemmer: enough that rain/raining, sneaker/sneakers, spin/spinning and levitate/levitation meet."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith(("sses", "ches", "shes", "xes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 7 and w.endswith("ation"):
        w = w[:-5] + "at"
    elif len(w) > 5 and w.endswith("ing"):
        w = _undouble(w[:-3])
    elif len(w) > 4 and w.endswith("ed") and not w.endswith("eed"):
        w = _undouble(w[:-2])
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def _undouble(w: str) -> str:
    if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
        return w[:-1]
    return w


def _words(text: str) -> list[tuple[str, str]]:
    """(stem, the word as written), in order."""
    text = text.casefold().replace("’", "'").replace("‘", "'")
    # "café" and "cafe" are one word.
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    found = []
    for raw in _WORD_RE.findall(text):
        surface = raw.split("'")[0]
        if surface:
            found.append((_stem(surface), surface))
    return found


def _stems(text: str) -> list[str]:
    return [stem for stem, _ in _words(text)]


def _stem_set(words: str) -> frozenset[str]:
    return frozenset(_stems(words))


STOPWORDS = _stem_set(
    """a an the and or but of in on at to for from with without by over under into onto off up down out about
    above below across after before behind between through during near like as is are was were be been being am
    do does did done has have had having will would could can should shall may might must its it's it this that
    these those they them their there here what which who whom whose where when why how all any both each few
    some such no nor not only own same so than too very just also again now then once i me my mine we our us
    you your yours he him his she her hers don doesn isn let lets really something thing things kind sort bit
    lot lots maybe perhaps pretty quite rather much many more less most least other another one ones around
    round along toward towards upon within while enough"""
)
GREETINGS = _stem_set(
    """hi hello hey hiya yo sup hola ok okay thanks thank cheers yes yeah yep no nope cool nice great good awesome
    test testing hmm help"""
)
INSTRUCTIONS = _stem_set(
    """make create generate give show draw design imagine produce get try turn want need would like love please
    see look looking version idea"""
)
BACK_REFERENCES = _stem_set("it this same again instead them")
VIDEO_WORDS = _stem_set(
    """video clip animate animation animated motion moving move orbit spin spinning rotate rotating fly flying
    flythrough flyover pan panning zoom zooming dolly timelapse hyperlapse footage reel gif trailer cinemagraph
    turntable slowmo slomo"""
)
IMAGE_WORDS = _stem_set(
    "image picture pic photo photograph still poster wallpaper illustration painting drawing render"
)
PHOTO_REFERENCES = _stem_set("photo picture pic image selfie snapshot")
FOLLOW_UP_STARTERS = _stem_set("more less but and also plus")
PREPOSITION_STARTERS = _stem_set("at in on during with without under inside outside near by as")
NOW_STARTERS = _stem_set("now then")

# Comparatives that change an earlier request ("make it darker"); a later change undoes its opposite.
CHANGES: dict[str, tuple[str, ...]] = {
    "dark": ("darker", "darken", "dimmer", "less bright", "more shadow"),
    "bright": ("brighter", "lighter", "brighten", "less dark", "more light"),
    "warm": ("warmer", "more warm"),
    "cool": ("cooler", "colder", "more blue"),
    "vivid": ("more colorful", "more colourful", "more vivid", "more vibrant", "more saturated", "punchier", "bolder"),
    "soft": ("softer", "gentler", "subtler", "more subtle"),
    "dramatic": ("more dramatic", "more intense", "more epic", "more contrast", "moodier"),
    "closer": ("closer", "tighter"),
    "wider": ("wider", "broader"),
    "minimal": ("simpler", "cleaner", "more minimal", "less busy", "less cluttered"),
}
OPPOSITE_CHANGES = {
    "dark": "bright",
    "bright": "dark",
    "warm": "cool",
    "cool": "warm",
    "closer": "wider",
    "wider": "closer",
}

# The concept table: each concept, how a reason names it, and the words that point to it (single words and
# two-word phrases). Words before a "|" count in requests and catalogue entries alike; words after it only in
# requests, so that "perfume" asks for a product look while a style that mentions sneakers is not a product style.
CONCEPTS: dict[str, tuple[str, str]] = {
    # weather and light
    "rain": (
        "rain",
        "rain rainy raining rainfall wet drizzle puddle downpour monsoon umbrella raindrop water-drops | storm stormy",
    ),
    "night": (
        "night-time setting",
        "night nighttime midnight neon moonlit moonlight moon nocturnal nightlife noir after-dark",
    ),
    "dark": ("darker mood", "dark darker darken darkest dim dimmer shadow shadowy noir low-key gloomy blackout"),
    "golden": (
        "golden-hour light",
        "sunset sunrise dusk dawn golden twilight sundown golden-hour magic-hour sunkissed sun-kissed afterglow",
    ),
    "warm": (
        "warm light",
        "warm warmer amber orange peach lemon honey heat summer sunny sun sunlight sunset sunrise dusk golden "
        "glow glowy glowing cozy cosy candle candlelit flare",
    ),
    # "cool" alone means good more often than cold, so only "cool tones" and the like count.
    "cool": ("cool tones", "cool-tones cool-toned cooler cold colder icy teal steel silver frost"),
    "fog": ("haze", "fog foggy mist misty haze hazy smoke smoky overcast cloudy"),
    "snow": ("snow", "snow snowy winter ice icy frost frosty blizzard glacier ski skier snowboard"),
    "bright": (
        "bright, airy light",
        "bright brighter airy daylight sunny overexposed high-key pastel luminous | firework sparkler",
    ),
    "flash": ("flash look", "flash paparazzi spotlight red-carpet"),
    "studio": ("studio setting", "studio backdrop softbox packshot | seamless"),
    # places and subjects
    "landscape": (
        "landscape",
        "landscape mountain mount mt peak summit ridge ridgeline hill valley vista scenery scenic horizon cliff "
        "canyon alps fuji panorama panoramic wilderness slope volcano desert dune",
    ),
    "epic": (
        "sense of scale",
        "epic grand majestic vast legendary heroic monumental towering sweeping mountain vista landscape",
    ),
    "urban": (
        "city setting",
        "street city urban downtown alley sidewalk pavement road crosswalk subway metro traffic skyline rooftop "
        "cityscape town tokyo new-york nyc cobblestone",
    ),
    "footwear": ("footwear", "footwear shoe sneaker trainer boot heels"),
    "product": (
        "product focus",
        "product packshot packaging showcase showcasing commercial advert | sneaker trainer shoe bottle perfume "
        "wristwatch handbag bag jewelry jewellery phone gadget headphone cosmetic lipstick footwear",
    ),
    "portrait": (
        "portrait",
        "portrait headshot face body person mouth eye head skin hair shoulder lips teeth brows makeup | selfie "
        "woman man girl boy guy lady people couple child kid character fisherman",
    ),
    "beach": (
        "seaside setting",
        "beach sea ocean coast coastal shore wave surf island tropical seaside turquoise lagoon | harbour harbor "
        "fisherman sailor boat pier",
    ),
    "water": ("water", "water underwater lake river pool splash flood swim fish jellyfish aquatic"),
    "nature": (
        "natural setting",
        "forest woods woodland tree jungle garden flower floral bloom blossom botanical plant leaf foliage meadow "
        "nature greenery moss petal",
    ),
    "interior": (
        "interior",
        "interior indoor indoors room home bedroom kitchen cafe library office apartment hallway elevator lobby",
    ),
    "desert": ("desert setting", "desert dune sand arid sahara dust sandstorm"),
    "fire": ("fire", "fire flame burning burn blaze inferno lava ember fiery explosion explode"),
    "fantasy": (
        "fantasy",
        "fantasy medieval knight castle dragon sword magic magical wizard myth mythical legend fairy elf angel",
    ),
    "futuristic": (
        "futuristic feel",
        "futuristic future sci-fi scifi cyberpunk robot outer-space astronaut galaxy alien chrome metallic 2049 "
        "hologram spaceship",
    ),
    "sport": (
        "sport",
        "sport athlete basketball football soccer boxer skate skateboard ski snowboard gym fitness workout | "
        "snowboarder skier surfer skater climber runner cyclist",
    ),
    "vehicle": ("vehicle", "car vehicle driving drive racing motorcycle motorbike bike highway truck"),
    # A catalogue entry that is "not staged" has nothing to do with a concert stage.
    "music": (
        "music-video energy",
        "music music-video dance dancing dancer concert rapper rap hip-hop jazz singer club party dj | stage",
    ),
    "food": (
        "food",
        "food eating dish meal restaurant dessert coffee drink cocktail bar chef | breakfast brunch lunch dinner "
        "snack ramen noodle soup pizza burger sushi pasta salad steak taco dumpling curry cake pastry bakery bread "
        "croissant fruit chocolate wine latte espresso",
    ),
    # "Animalistic" describes a person with an animal's traits, not an animal in the frame.
    "animal": ("animal", "animal cat dog bird horse wolf lion tiger creature pet wildlife fox"),
    "travel": ("travel feel", "travel airport vacation holiday trip journey terminal plane"),
    "fashion": (
        "fashion angle",
        "fashion outfit runway catwalk couture editorial vogue streetwear lookbook designer wardrobe dress suit",
    ),
    "luxury": (
        "premium feel",
        "luxury luxurious elegant elegance premium high-end opulent lavish glamorous glamour glam expensive upscale "
        "perfume jewelry jewellery marble polished refined sophisticated",
    ),
    # moods
    "cinematic": ("cinematic feel", "cinematic cinema movie filmic widescreen anamorphic blockbuster"),
    "calm": (
        "calm mood",
        "calm serene peaceful quiet tranquil relaxed gentle gently gracefully gradual gradually slow slowly stillness "
        "meditative chill",
    ),
    "dreamy": (
        "dreamy mood",
        "dream dreamy dreamlike ethereal surreal whimsical enchanted mystical otherworldly soft-focus",
    ),
    "moody": (
        "moody tone",
        "moody moodier melancholy melancholic sad lonely somber sombre brooding introspective dark darker",
    ),
    "energetic": (
        "energy",
        "energetic energy dynamic action fast quickly rapid rapidly speed intense chase hype punchy thrilling "
        "adrenaline explosive",
    ),
    "romantic": ("romance", "romantic romance kiss wedding intimate tender"),
    "playful": ("playful tone", "playful fun cute quirky funny"),
    "horror": ("eerie tone", "horror scary creepy eerie haunting spooky sinister nightmare gothic"),
    "retro": (
        "retro feel",
        "retro vintage nostalgic nostalgia 70s 80s 90s 90 2000s y2k analog analogue grain grainy polaroid vhs 8mm "
        "throwback camcorder",
    ),
    "glitch": ("glitch look", "glitch glitchy pixel pixelated datamosh distortion"),
    "surveillance": (
        "surveillance-camera look",
        "cctv surveillance security-camera security-cam security-footage webcam doorbell-cam bodycam dashcam",
    ),
    "minimal": ("clean, minimal look", "minimal minimalist minimalism clean simple sleek geometric uncluttered"),
    "vivid": ("vivid colour", "vivid vibrant colorful colourful saturated bold rainbow"),
    "drama": ("drama", "dramatic drama contrast high-contrast"),
    "realistic": (
        "realism",
        "realistic photorealistic realism lifelike natural candid authentic documentary unfiltered",
    ),
    # medium
    "painting": (
        "painterly look",
        "painting painted oil watercolor watercolour acrylic gouache painterly brushstroke | canvas",
    ),
    "illustration": ("illustrated look", "illustration illustrated drawing drawn sketch cartoon comic vector"),
    "anime": ("anime look", "anime manga | ghibli"),
    "render3d": ("3D look", "3d render rendered cgi octane blender | pixar"),
    "art": ("artistic angle", "art artwork artistic gallery museum collage mixed-media"),
    "text": ("text and layout", "text typography poster logo lettering sign title headline label caption quote"),
    "graphic": (
        "graphic design",
        "logo poster flyer banner typography lettering infographic album-cover book-cover thumbnail",
    ),
    "vertical": ("vertical format", "vertical instagram-story reel tiktok phone-wallpaper"),
    "square": ("square format", "square instagram avatar profile icon"),
    # framing and camera
    "closeup": ("close-up framing", "close-up closeup macro"),
    "aerial": ("aerial view", "aerial drone bird's-eye overhead top-down flyover fpv"),
    "wide": ("wide view", "wide wide-angle fisheye fish-eye establishing"),
    "rotation": (
        "rotating move",
        "spin spinning rotate rotation rotating turntable around orbit orbiting circle circling 360 revolve twirl",
    ),
    # A crane or a jib goes down as well as up: only the direction says which.
    "rise": ("rising move", "rise rising ascend lift lifts upward tilt-up crane-up jib-up"),
    "descend": ("lowering move", "descend descending lower lowers lowering downward tilt-down crane-down jib-down"),
    # A pan or a track moves the camera sideways.
    "lateral": ("sideways move", "pan panning sideways lateral slide sliding tracking track alongside"),
    "push": ("push-in", "push closer approach toward towards zoom-in zoom-into dolly-in push-in"),
    "pull": ("pull-back reveal", "pull away reveal retreat zoom-out dolly-out pull-back"),
    "flying": ("flying move", "fly flying soar soaring glide gliding drone flythrough"),
    "handheld": ("handheld feel", "handheld shaky vlog"),
    "slowmo": ("slow motion", "slow-motion slow-mo slo-mo slowmo slomo bullet-time"),
    "timelapse": ("time-lapse", "timelapse time-lapse hyperlapse"),
    "transform": (
        "transformation",
        "transform transformation morph morphing metamorphosis disintegrate",
    ),
    "quick": ("quick turnaround", "quick draft preview cheap rough"),
    # The catalogue's all-rounders: the broad picks when nothing matches more closely.
    "allpurpose": ("versatile look", "general versatile all-purpose go-to everyday"),
    # How a motion describes itself when it is a real camera move rather than an effect.
    "camera": ("camera move", "camera dolly crane jib pan tilt zoom orbit arc tracking track follows drone fpv"),
}


def _build_triggers(for_request: bool) -> dict[str, tuple[str, ...]]:
    triggers: dict[str, list[str]] = {}
    for concept, (_, words) in CONCEPTS.items():
        shared, _, request_only = words.partition("|")
        for phrase in (shared + request_only if for_request else shared).split():
            key = " ".join(_stems(phrase.replace("-", " ")))
            if key and concept not in triggers.setdefault(key, []):
                triggers[key].append(concept)
    return {key: tuple(concepts) for key, concepts in triggers.items()}


def _build_changes() -> dict[str, str]:
    return {" ".join(_stems(phrase)): change for change, phrases in CHANGES.items() for phrase in phrases}


# Pairs in which a trigger word means something else: a golden retriever is not golden hour.
FALSE_FRIENDS = frozenset(
    {
        "golden retriever",
        "golden gate",
        "golden globe",
        "first person",
        "sports car",
        "phone wallpaper",
        "slow motion",
        "slow mo",
        "slo mo",
        "fish eye",
    }
)
# Words that name a camera move only before these words: "crash zoom", but "waves crashing".
CAMERA_ONLY = {"crash": ("zoom",)}
# The medium decides a look more than anything else in a request.
EMPHASIS = {"painting": 1.5, "illustration": 1.5, "anime": 1.5, "render3d": 1.5}
# Concepts that bring others along at a lower weight: a product shot wants a clean, premium look.
IMPLIED = {
    "product": {"studio": 0.8, "minimal": 0.8, "luxury": 0.5},
    # A drawn or painted medium the catalogue lacks is better served by its nearest kin than by a photo look.
    "anime": {"illustration": 0.8},
    "render3d": {"illustration": 0.5},
    "illustration": {"painting": 0.6, "art": 0.6},
    "painting": {"art": 0.6},
    "portrait": {"realistic": 0.4},
    "graphic": {"text": 1.0},
}
# Entries that put something specific in the frame (a skier, a car chase, a beach, flames) suit only the requests
# that ask for it; elsewhere they count for less.
IMPOSING = ("sport", "vehicle", "fire", "animal", "water", "desert", "music", "transform", "horror", "beach")
# A text-to-video clip or a product shot has no person unless the words bring one; a photo to animate usually has.
IMPOSING_WITHOUT_PEOPLE = ("portrait",)
# Concepts that bring people into the frame without naming them: a dunk has a player, a runway a model.
PEOPLE_CONCEPTS = ("portrait", "sport", "music", "fashion", "romantic")
IMPOSING_PENALTY = 0.25
# How much a photo leans toward realistic looks when its words name no look: enough to break ties, no more.
PHOTO_REALISM_PRIOR = 0.3
# A request word this long that the catalogue does not use may be a misspelt name ("tumbler" for "Tumblr").
RESPELL_MIN_LENGTH = 6
# What is in the frame says less about a motion (the camera's move matters) or a poster (its design does) than
# about a photographic style, so those matches count for less.
SUBJECT_CONCEPTS = frozenset(
    """product portrait landscape urban beach water nature interior desert food animal vehicle sport fashion travel
    fantasy futuristic""".split()
)
SUBJECT_MATCH_WEIGHT = 0.6
# A calm request is poorly served by a frantic move, and the other way round.
OPPOSITE_MOODS = {"calm": "energetic", "energetic": "calm"}

TRIGGERS = _build_triggers(for_request=False)
REQUEST_TRIGGERS = _build_triggers(for_request=True)
CHANGE_TRIGGERS = _build_changes()
CHANGE_WORDS = frozenset(key for key in CHANGE_TRIGGERS if " " not in key) | _stem_set("more less")
# Words that say how to make something, not what: a message made only of these has no subject of its own.
NOT_SUBJECT = (
    STOPWORDS | GREETINGS | INSTRUCTIONS | BACK_REFERENCES | VIDEO_WORDS | IMAGE_WORDS | CHANGE_WORDS | NOW_STARTERS
)
# Words too common in requests or in catalogue descriptions to say anything about a match.
# Camera words (zoom, orbit, dolly) stay in: they are what a motion's name says.
GENERIC = (STOPWORDS | GREETINGS | INSTRUCTIONS | BACK_REFERENCES | IMAGE_WORDS | CHANGE_WORDS) | _stem_set(
    """video clip animate animation animated footage reel gif trailer motion moving move perfect ideal great
    creating adding effect feel feels vibe vibes look looks style moment moments visual visuals scene scenes
    subject camera shot shots frame frames view make made full every everything watch watching wear wearing hold
    holding stand standing day days time"""
)


def _terms(text: str, for_request: bool = False) -> dict[str, str]:
    """The concepts ("#rain") and telling words a text contains, each with the word that brought it, in order."""
    triggers = REQUEST_TRIGGERS if for_request else TRIGGERS
    words = _words(text)
    terms: dict[str, str] = {}
    for i, (stem, surface) in enumerate(words):
        if i + 1 < len(words):
            pair = f"{stem} {words[i + 1][0]}"
            for concept in triggers.get(pair, ()):
                terms.setdefault(f"#{concept}", f"{surface} {words[i + 1][1]}")
            if f"{surface} {words[i + 1][1]}" in FALSE_FRIENDS:
                continue
        following = words[i + 1][0] if i + 1 < len(words) else ""
        if stem in CAMERA_ONLY and following not in CAMERA_ONLY[stem]:
            continue  # waves crashing are not a crash zoom
        for concept in triggers.get(stem, ()):
            terms.setdefault(f"#{concept}", surface)
        if stem not in GENERIC and (len(stem) > 2 or stem.isdigit()):
            terms.setdefault(stem, surface)
    becoming = _BECOMING.search(text) if for_request else None
    if becoming:
        terms.setdefault("#transform", becoming.group(0).strip())
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
    words: list[tuple[str, str]]
    subject: str | None
    follows_up: bool
    medium: str | None  # "video", "image" or None when the message does not say
    meaningful: bool
    camera: str = ""  # the camera words that make it a video ("slow push-in")
    reference: str = ""  # the words that point at an earlier result ("animate it")


def _read_message(text: str) -> _Message:
    words = _words(text)
    stems = [stem for stem, _ in words]
    phrase = _subject_phrase(text)
    # Settings alone ("5 seconds is enough", "four variations please") name no subject of their own.
    content = [stem for stem in _stems(asking.without_settings(phrase)) if stem not in NOT_SUBJECT]
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
            if message.subject and _stems(addition)[:1] and _stems(addition)[0] in PREPOSITION_STARTERS:
                subject = f"{subject} {addition}"
                merged.append(message)
    follows_up = len(thread) > 1

    weights: dict[str, float] = {}
    surfaces: dict[str, str] = {}
    changes: list[str] = []
    for message in thread:
        weight = FOLLOW_UP_WEIGHT if follows_up and message is current else 1.0
        for term, surface in _terms(asking.without_settings(message.text), for_request=True).items():
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


def _load_entries(model) -> list[_Entry]:
    rows = (
        model.objects.filter(enabled=True).order_by("sort_order", "name", "id").values_list("id", "name", "description")
    )
    return [
        _Entry(
            id=entry_id,
            name=name.strip(),
            description=" ".join((description or "").split()),
            name_terms=frozenset(_terms(name)),
            description_terms=frozenset(_terms(description or "")),
        )
        for entry_id, name, description in rows
    ]


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
    entries: list[_Entry],
    weights: dict[str, float],
    count: int,
    imposing: tuple[str, ...] = (),
    colours: frozenset[str] = frozenset(),
) -> list[_Pick]:
    """The best-matching entries, each adding something the earlier picks did not; then catalogue order.

    Entries that bring one of the `imposing` concepts into a frame that did not ask for it count for less; a
    `colours` term (a colour word of the request) adds to a match but never makes one on its own."""
    unwanted = [f"#{concept}" for concept in imposing if f"#{concept}" not in weights]
    frequency = Counter(term for entry in entries for term in entry.name_terms | entry.description_terms)
    rarity = {term: math.log(1 + len(entries) / frequency[term]) for term in weights if frequency[term]}
    decay = dict.fromkeys(weights, 1.0)
    picks: list[_Pick] = []
    taken_ids: set[uuid.UUID] = set()
    taken_names: set[str] = set()
    taken_families: set[str] = set()

    def score(entry: _Entry) -> tuple[float, tuple[str, ...]]:
        total, contributions = 0.0, []
        for term, weight in weights.items():
            if term not in rarity:
                continue
            if term in entry.name_terms:
                place = NAME_WEIGHT
            elif term in entry.description_terms:
                place = DESCRIPTION_WEIGHT
            else:
                continue
            base = CONCEPT_WEIGHT if term.startswith("#") else WORD_WEIGHT
            contribution = weight * base * rarity[term] * place * decay[term]
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
            # Strictly greater: on a tie the entry earlier in catalogue order wins.
            if entry_score > best_score + 1e-9:
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

# What each model is especially good at, as concepts of the table above. Unknown models simply have none.
MODEL_STRENGTHS: dict[str, tuple[str, ...]] = {
    "soul": ("portrait", "fashion"),
    "nano-banana": ("text", "minimal", "illustration"),
    "flux-kontext": ("vivid", "landscape", "fantasy", "epic", "nature"),
    "kling-2-5": ("energetic", "sport", "vehicle", "water", "fire"),
    "seedance": ("product", "fashion", "studio"),
    "wan-25-fast": ("quick",),
    "minimax": ("portrait", "music", "romantic", "fashion"),
    "minimax-t2v": ("portrait", "music", "cinematic"),
    "seedance-v1-lite-t2v": ("quick",),
}


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

SCENES = ("product", "landscape", "urban", "beach", "nature", "interior", "fantasy", "portrait")
SCENE_ALIASES = {"desert": "landscape", "snow": "landscape", "water": "beach"}

SETTINGS = {
    "product": (
        "The product is the hero, placed on a clean seamless surface with generous negative space so its "
        "silhouette reads at a glance."
    ),
    "landscape": (
        "The setting is a vast natural landscape: layered ridgelines recede toward the horizon, with "
        "atmospheric haze separating the near, middle and far planes."
    ),
    "urban": (
        "The setting is a real city street with textured pavement, shopfronts, signage and passing figures "
        "softly out of focus, giving a lived-in sense of place."
    ),
    "beach": "The setting is the water's edge: a long line of shore, waves folding in and an open horizon beyond.",
    "nature": (
        "The setting is lush and organic, with layers of foliage, flowers and textured ground building depth "
        "from the nearest leaves to the distant trees."
    ),
    "interior": (
        "The setting is an interior with a clear sense of place, its furniture, surfaces and objects chosen to "
        "feel lived-in rather than staged."
    ),
    "fantasy": (
        "The setting is a richly imagined world with its own rules, built from believable materials so the "
        "fantasy feels tangible."
    ),
    "portrait": (
        "The person is the centre of the image, with a background that supports their story without "
        "competing for attention."
    ),
    "generic": (
        "The setting is built around the subject, with a readable foreground, middle ground and background "
        "that support it rather than compete with it."
    ),
    "graphic": (
        "The layout sits on a clear grid, with one focal element, a strong typographic hierarchy and generous "
        "negative space."
    ),
}

COMPOSITIONS = {
    "product": (
        "Shoot a three-quarter hero angle from slightly above on a 100mm lens at f/8, the product centred and "
        "sharp from its front edge to its back.",
        "Look straight down from overhead for a flat lay, the product set on a diagonal with balanced space around it.",
        "Go low and close on a 50mm lens so the product looms slightly over the camera, a bold, heroic stance "
        "against a softly graded background.",
    ),
    "landscape": (
        "Go wide on a 24mm lens, horizon on the lower third, with a rock or ridge in the foreground anchoring "
        "one corner to give depth.",
        "Use a 200mm telephoto from a distant vantage point to compress the layers into stacked silhouettes, "
        "the horizon placed high in the frame.",
        "Shoot from a low position on a 16mm lens, foreground texture large in the frame and the view opening "
        "up behind it, the sky filling two thirds of the composition.",
    ),
    "urban": (
        "Compose at eye level on a 35mm lens, the street's leading lines pulling the eye toward a vanishing "
        "point just off centre.",
        "Shoot from a low angle near the kerb on a 24mm lens, the pavement large in the foreground and the "
        "buildings rising at the edges of the frame.",
        "Use an 85mm lens from across the street, stacking layers of traffic, people and light into a "
        "compressed, observational frame.",
    ),
    "beach": (
        "Go wide on a 28mm lens with the horizon dead level on the upper third and the shoreline curving in "
        "from one corner.",
        "Shoot from ankle height at the waterline on a 35mm lens, foam and wet sand filling the foreground.",
        "Use a long lens from a high vantage point to flatten the waves into graphic bands of colour.",
    ),
    "nature": (
        "Compose on a 35mm lens at eye level, framed through foreground leaves that fall softly out of focus.",
        "Shoot low on a 24mm lens with the ground cover large in the frame and the canopy rising overhead.",
        "Go close on a 100mm macro lens, isolating one detail while everything else melts into soft bokeh.",
    ),
    "interior": (
        "Compose on a 35mm lens at chest height, a doorway or window adding a frame within the frame.",
        "Shoot from a corner of the room on a 24mm lens to show its depth, with verticals kept straight.",
        "Move in on a 50mm lens for an intimate, detail-led composition, foreground objects softly out of focus.",
    ),
    "fantasy": (
        "Go wide on a 24mm lens with the central figure small against the scale of the world, like a key "
        "frame from an epic.",
        "Shoot from a low angle on a 35mm lens so the central figure towers against the sky.",
        "Move close on an 85mm lens and let the details of costume and craft carry the story.",
    ),
    "portrait": (
        "Compose head and shoulders on an 85mm lens at f/1.8, eyes on the upper third and the background falling "
        "into creamy bokeh.",
        "Step back for an environmental portrait on a 35mm lens, the person filling a third of the frame and "
        "their surroundings telling the rest of the story.",
        "Compose three-quarter length on a 50mm lens from just below eye level, giving the pose presence and "
        "confidence.",
    ),
    "generic": (
        "Compose on a 35mm lens at eye level with the subject placed on a third and clear space around it to breathe.",
        "Move closer on an 85mm lens, isolating the subject against a soft, uncluttered background.",
        "Shoot from a low angle on a 24mm lens for a bolder, more graphic composition with strong diagonals.",
    ),
    "graphic": (
        "Centre the main mark with balanced margins on every side, so it reads at a glance even at small sizes.",
        "Set the composition on a strong diagonal, with the title running large across the upper third.",
        "Stack the elements in a clear vertical order, image above and type anchored firmly to the bottom edge.",
    ),
    "closeup": (
        "Move in close on a 100mm macro lens at f/4, filling the frame with the subject's finest detail.",
        "Go for a tight close-up on an 85mm lens at f/2, one detail tack-sharp and the rest melting into soft bokeh.",
        "Shoot a close detail on a 50mm lens from a raking angle, so the light skims across every surface texture.",
    ),
    "aerial": (
        "Shoot from high above, as a drone would, looking straight down so the scene becomes a graphic pattern.",
        "Take an oblique aerial view from a drone a few hundred feet up, the horizon tilted just out of frame.",
        "Look down from a high vantage point on a wide lens, the subject small within the sweep of its surroundings.",
    ),
}

TEXTURES = {
    "product": (
        "Render every material precisely: stitching, fabric weave, rubber, glass, metal or print, with accurate "
        "reflections and clean edges."
    ),
    "landscape": (
        "Render fine natural texture in rock, scrub and cloud, with soft gradients in the sky, subtle film grain "
        "and no oversharpening."
    ),
    "urban": (
        "Render believable urban texture in worn asphalt, brick, metal and glass, with fine grain and crisp "
        "detail wherever the light falls."
    ),
    "beach": (
        "Render fine texture in wet sand, foam and the glassy surface of the water, with a believable sparkle "
        "where the light hits."
    ),
    "nature": (
        "Render natural texture in veined leaves, bark, petals and moss, with dew and fine detail catching the light."
    ),
    "interior": (
        "Render tactile interior detail in wood grain, fabric, paper and glass, with the soft falloff of light "
        "across each surface."
    ),
    "fantasy": (
        "Render tactile craft in forged metal, weathered leather, heavy cloth and stone, with wear that hints at "
        "a history."
    ),
    "portrait": (
        "Render natural skin with real pores and fine hair, believable fabric texture and catchlights in the "
        "eyes, without plastic smoothing."
    ),
    "generic": "Render fine, believable texture with crisp detail on the subject, subtle grain and no oversharpening.",
}
MEDIUM_TEXTURES = {
    "graphic": (
        "Keep every edge crisp and vector-clean, with precise kerning, even stroke weights and no stray artefacts."
    ),
    "painting": (
        "Let the brushwork show: visible strokes, layered pigment and the faint texture of canvas under the paint."
    ),
    "illustration": (
        "Draw it with confident linework, considered shape design and clean, soft shading, detailed but never "
        "cluttered."
    ),
    "anime": "Use clean cel shading, expressive line art and painterly background art with carefully designed light.",
    "render3d": (
        "Use physically based materials with accurate reflections, soft global illumination and crisp, clean geometry."
    ),
}
OPENINGS = {
    "graphic": "{subject}, designed as a finished piece of graphic design.",
    "photo": "{subject}, captured as a finished, high-end photograph.",
    "painting": "{subject}, painted as a finished work of fine art.",
    "illustration": "{subject}, drawn as a detailed, finished illustration.",
    "anime": "{subject}, in the look of a hand-drawn anime feature.",
    "render3d": "{subject}, rendered as a polished 3D scene.",
}
SCENE_ACTIONS = {
    "product": (
        "The product itself stays perfectly still and centred while the camera does the work, revealing each surface "
        "in turn."
    ),
    "landscape": "Clouds drift slowly across the scene and the light shifts subtly as the shot unfolds.",
    "urban": (
        "Life moves through the street at a natural pace: passing figures, changing traffic lights, flickering signs."
    ),
    "beach": "Waves roll in and recede at a natural rhythm, foam spreading and sliding back over the sand.",
    "nature": "Leaves stir and light flickers through the canopy as a gentle breeze moves through the scene.",
    "interior": (
        "Small details keep the room alive: dust drifting in a sunbeam, a curtain stirring, steam rising from a cup."
    ),
    "fantasy": "Capes, hair and banners move in the wind while dust and embers drift through the light.",
    "portrait": (
        "Add natural secondary motion: hair and fabric moving slightly, a breath, a blink, a small shift of weight."
    ),
    "generic": "The scene carries gentle, natural motion so the shot feels alive rather than frozen.",
}

GRAPHIC_LIGHT = (
    "Colour and contrast do the work of light: flat or gently graded fills, and one accent colour that pulls the "
    "eye to the focal point."
)
LIGHTS = ("night", "golden", "studio", "fog", "flash", "dark", "bright")
LIGHT_SENTENCES = {
    "night_city": (
        "It is night: practical sources such as streetlamps, shop signs and lit windows throw pools of coloured "
        "light, separated by deep, clean shadow."
    ),
    "night": (
        "It is night: cool moonlight outlines the shapes, most of the frame falls into deep blue shadow, and only "
        "a few warm points of light break the dark."
    ),
    "golden": (
        "Light comes from a low sun sitting just above the horizon, raking warm amber across the scene, "
        "rim-lighting every edge and stretching long, soft shadows."
    ),
    "studio": (
        "The light is controlled studio light: a large softbox as key at forty-five degrees, a gentle fill from "
        "the other side and a thin rim light tracing the silhouette."
    ),
    "fog": (
        "The light is soft and diffused through fog, with low contrast, gently glowing highlights and distance "
        "dissolving into pale haze."
    ),
    "flash": (
        "The light is a hard, direct on-camera flash that pops the highlights, flattens the front and throws a "
        "crisp shadow behind the subject."
    ),
    "dark": (
        "The lighting is low-key: a single motivated source picks out the subject while most of the frame falls into "
        "deep shadow."
    ),
    "bright": "The lighting is bright and airy, with soft daylight filling the frame and open, luminous shadows.",
    "default": (
        "The light is soft natural daylight from one side, with gentle contrast and detail held in both the "
        "highlights and the shadows."
    ),
}
PALETTES = {
    "vivid": (
        "The palette is saturated and bold, with strong complementary colours held in balance so nothing turns garish."
    ),
    "retro": "The palette is faded film colour, slightly warm, with lifted blacks and softly rolled-off highlights.",
    "night": (
        "The palette is deep navy and teal in the shadows, punctuated by neon magenta, cyan and sodium-vapour orange."
    ),
    "golden": (
        "The palette runs from burnt orange, amber and soft peach in the sky to dusky violet, with cool "
        "blue-grey shadows for contrast."
    ),
    "studio": (
        "The palette stays neutral, soft greys and off-white around the subject, so its own colours carry the frame."
    ),
    "fog": "The palette is muted greys, sage and pale blue, all softened by the haze.",
    "flash": "The palette is punchy and high in contrast, with bright true colours and near-black shadows.",
    "dark": "The palette is charcoal, ink blue and muted earth tones, with one restrained accent colour.",
    "bright": "The palette is clean whites, soft pastels and gentle natural colour.",
    "cool": "The palette is cool blues, slate and silver, crisp and quiet.",
    "warm": "The palette is warm neutrals of honey, terracotta and cream.",
    "default": "The palette is natural and true to life, restrained so the subject's own colours lead.",
}
WEATHER = {
    "rain": (
        "Rain is falling: wet surfaces mirror the light, droplets catch highlights and puddles hold blurred "
        "reflections of everything above them."
    ),
    "snow": "Snow softens every edge and bounces cool light back up into the shadows.",
    "fog": "A low fog hangs in the air, layering the depth and softening everything in the distance.",
}
WEATHER_ACTIONS = {
    "rain": "Rain falls steadily through the light and ripples spread across the puddles.",
    "snow": "Snow drifts down slowly through the frame.",
    "fog": "Fog rolls slowly across the scene, revealing and hiding shapes as it moves.",
    "fire": "Flames flicker and embers drift upward through the air.",
    "golden": "The sun slips a little lower and the light deepens toward amber by the final frame.",
}

MOODS = ("epic", "dreamy", "moody", "energetic", "calm", "romantic", "playful", "horror", "retro", "luxury")
MOOD_SENTENCES = {
    "epic": "The mood is grand and awe-struck, with a sense of scale that makes the viewer feel small in front of it.",
    "dreamy": "The mood is dreamlike and soft-edged, slightly unreal, as if remembered rather than seen.",
    "moody": "The mood is moody and introspective, with quiet tension held in the shadows.",
    "energetic": "The mood is kinetic and bold, full of forward momentum and confident attitude.",
    "calm": "The mood is calm and unhurried, quiet enough that nothing in the frame fights for attention.",
    "romantic": "The mood is tender and intimate, warm enough that the viewer feels invited in.",
    "playful": "The mood is playful and light-hearted, with a wink of humour in the details.",
    "horror": "The mood is uneasy and eerie, with something unsettling lingering just beyond the light.",
    "retro": "The mood is nostalgic, like a frame pulled from an old roll of film found in a drawer.",
    "luxury": "The mood is polished and quietly expensive, every surface and detail deliberate.",
    "golden": "The mood is warm and wistful, the quiet glow at the end of a long day.",
    "night": "The mood is atmospheric and quietly cinematic, full of late-night stillness.",
    "studio": "The mood is confident and premium, the kind of image that sells the object at a glance.",
    "default": "The mood is honest and inviting, letting the subject speak for itself.",
}
CHANGE_SENTENCES = {
    "dark": (
        "Take the exposure darker than usual: let the shadows sink toward black and keep only the brightest "
        "edges catching light, for a heavier, moodier frame."
    ),
    "bright": (
        "Lift the exposure brighter than usual, opening up the shadows and letting the highlights bloom gently "
        "without clipping."
    ),
    "warm": "Shift the colour temperature warmer, bathing the whole scene in amber and honey tones.",
    "cool": "Shift the colour temperature cooler, toward steel blue and silver, for a crisper, quieter feel.",
    "vivid": (
        "Push the colour further, with richer saturation and bolder contrast, while keeping natural tones believable."
    ),
    "soft": "Soften everything: gentler contrast, diffused highlights and a slightly hazy, forgiving finish.",
    "dramatic": "Raise the drama with stronger contrast, deeper shadows and a more decisive direction of light.",
    "closer": "Bring the camera closer than before, filling the frame with the subject and its finest details.",
    "wider": "Pull the camera wider than before, giving the subject more room and revealing more of its surroundings.",
    "minimal": "Strip the frame back to essentials, with fewer elements, more negative space and a cleaner background.",
}
CINEMATIC_SENTENCES = {
    "image": (
        "Treat it as a still from a feature film: motivated light, deliberate blocking and the sense of a story "
        "just before or after this moment."
    ),
    "video": "Treat it as a shot from a feature film, with motivated light, deliberate blocking and a story unfolding.",
}
CLOSINGS = {
    TEXT_TO_IMAGE: "Deliver a clean, high-resolution image with no text, logos, watermarks or borders.",
    TEXT_TO_VIDEO: (
        "Keep motion natural, with realistic motion blur at a 24 fps film cadence, no warping of faces or hands, "
        "and no text, logos or watermarks on screen."
    ),
    IMAGE_TO_VIDEO: (
        "Hold fine detail steady from frame to frame, with natural motion blur, no flicker, no warping of faces, "
        "hands or edges, and no text or watermarks added."
    ),
}
# A poster or a title card wants its lettering; every other image wants none.
TEXT_CLOSING = "Leave clean space for the lettering and render any text crisply, legibly and spelled exactly as given."
PACING = (
    "{length} the move eases in, holds a steady speed through the middle and settles on a clean final frame, "
    "with no cuts."
)
FRAMING = "Compose for a {ratio} frame, keeping the subject and every essential detail well inside its edges."
# General craft notes that fill out a prompt that would otherwise be too short.
EXTRAS = (
    "Keep a clear separation between foreground, subject and background so the image reads in depth at a glance.",
    "Focus falls precisely on the subject, with a natural falloff that guides the eye without looking artificial.",
    "Every detail should feel observed rather than invented: believable scale, correct shadows and one consistent "
    "direction of light.",
    "Leave a little breathing room at the edges so the frame can be cropped for other formats without losing "
    "the subject.",
)


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
    name_terms = _stem_set(name)
    if said and all(set(_stems(surface)) <= name_terms for surface in said):
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
            " If you meant a picture made here: I can't hand it to a video model yet, so these make the clip from "
            "the description; attach the picture to your message to animate it exactly."
        )
    return f"{first}{note} Pick one to generate, or tell me what to change."


def _question(current: _Message) -> str:
    stems = {stem for stem, _ in current.words}
    greeting = "Hi! " if stems & _stem_set("hi hello hey hiya yo hola") else ""
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
    entries = _load_entries(Style if request.kind == TEXT_TO_IMAGE else Motion)
    if not entries or not models:
        return _empty_catalogue_reply(request.kind)

    request = _respelled(request, entries)
    picks = _pick_entries(entries, _matching_weights(request), OPTION_COUNT, _imposing(request), request.colours)
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
