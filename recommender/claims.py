"""Whether a reason says only what is true: each of its words must come from the request, from the catalogue
entry's own name or description, from the model's label or summary, or from the option's settings, unless it
is one of the plain words every reason is built from (request_words.toml, [reasons]).

A word check, not an understanding: it catches an invented mood or setting ("leans into the calm mood" for a
request that never said calm, of an entry that never says it), not a true word put to a false use.
"""

import re
import unicodedata
from dataclasses import dataclass

from .asked import words

_TOKEN = re.compile(r"[a-z0-9]+(?::[0-9]+)?")
# Endings dropped before words are compared, longest first: "rotating" and "rotates" meet, so do "dreamy" and
# "dream", "naturally" and "natural".
_ENDINGS = ("ations", "ation", "ingly", "ings", "ing", "edly", "ied", "ies", "ed", "ly", "es", "s", "y", "e")
# Two words of this length or more that start the same way are one word ("cinema", "cinematic").
_PREFIX_LENGTH = 5


def _tokens(text: str) -> list[str]:
    text = (text or "").casefold().replace("’", "'").replace("‘", "'")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    # "it's", "don't": the part before the apostrophe is the word.
    text = re.sub(r"'[a-z]+\b", "", text)
    return _TOKEN.findall(text)


def _stem(word: str) -> str:
    if ":" in word or word.isdigit():
        return word
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


@dataclass(frozen=True)
class Sources:
    """What a reason may draw on."""

    request: str  # the person's words, the whole thread
    entry: str = ""  # the style's or motion's name and description
    model: str = ""  # the model's label and summary
    parameters: dict | None = None  # the option's settings
    taste: str = ""  # what the person often chooses (recommender.taste.claim_source)

    def stems(self) -> set[str]:
        settings = " ".join(f"{k} {v}" for k, v in (self.parameters or {}).items())
        return {_stem(t) for t in _tokens(f"{self.request} {self.entry} {self.model} {settings} {self.taste}")}


def _backed(stem: str, known: set[str]) -> bool:
    if stem in known:
        return True
    if len(stem) < _PREFIX_LENGTH - 1:
        return False
    return any(len(k) >= _PREFIX_LENGTH - 1 and (k.startswith(stem) or stem.startswith(k)) for k in known)


def reason_unsupported(reason: str, sources: Sources) -> list[str]:
    """The words of a reason nothing backs, in order (empty when the reason says only what is true)."""
    glue = {_stem(w) for w in words().glue} | words().glue
    known = sources.stems()
    unsupported = []
    for token in _tokens(reason):
        stem = _stem(token)
        if token in glue or stem in glue or _backed(stem, known):
            continue
        if token not in unsupported:
            unsupported.append(token)
    return unsupported


def option_sources(option, *, request: str, entry_name: str, entry_description: str, model) -> Sources:
    """The sources of an option's reason: `option` an OptionDraft or Option, `model` its GenerationModel."""
    return Sources(
        request=request,
        entry=f"{entry_name} {entry_description}",
        model=f"{model.label} {model.summary}" if model is not None else "",
        parameters=option.parameters,
    )
