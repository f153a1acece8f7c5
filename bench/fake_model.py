"""A scripted stand-in for Claude, for benches: it answers like the model would, by simple rules.

It reads what our agent sends (the catalogue in the system prompt, the person's message), picks
the three catalogue entries whose words overlap the message most, and calls add_option for each
with a 180-word brief. It measures our side (request size, calls, latency, validation), not the
model's taste: the eval labels its hit rate as the pipeline's.
"""

import re

from recommender.tests.fake_anthropic import reply, text, tool_use

VIDEO_WORDS = {"video", "animate", "clip", "motion", "moving", "orbit", "spin", "fly", "camera", "zoom", "pan"}
STOP = {"a", "an", "the", "of", "in", "on", "at", "with", "and", "to", "for", "my", "me", "make", "it", "like"}
LINE = re.compile(r"^(?P<ref>[SM]\d+) \| (?P<name>[^|]*)(?: \| (?P<description>.*))?$")


def _words(value: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", value.lower()) if w not in STOP and len(w) > 2}


def _brief(subject: str, name: str) -> str:
    sentence = (
        f"{subject}, rendered in the {name} look with careful attention to light, texture and mood. "
        "The frame is composed on a wide lens with a clear foreground, a strong subject in the middle distance "
        "and a soft background that falls away into atmosphere. Light arrives low and warm from one side, "
        "carving shapes and leaving long gentle shadows, while the palette stays restrained and cinematic. "
    )
    words = []
    while len(words) < 180:
        words += sentence.split()
    return " ".join(words[:180])


def answer(request, delay: float = 0.0, invent_first: bool = False) -> object:
    """A reply step for the fake server, from the request our agent sent.

    `delay` is the model's time before its first token; `invent_first` makes the first option name a
    reference that does not exist and offers only two, so that the agent must ask for a correction.
    """
    body = request.body
    catalogue = body["system"][-1]["text"]
    # The person's latest words: the last user message written as text (not a round of tool results).
    message = next(m["content"] for m in reversed(body["messages"]) if isinstance(m["content"], str))
    # An image attached, or an earlier picture the words point at: either way the options animate it.
    has_image = "attached an image" in message or "point at a picture made earlier" in message
    wanted = _words(message.split("\n\n[")[0])
    # The agent's own notes say when camera words or an earlier picture ask for a video.
    video = has_image or bool(wanted & VIDEO_WORDS) or "ask for a video" in message or "earlier picture" in message
    prefix = "M" if video else "S"
    scored = []
    for line in catalogue.splitlines():
        match = LINE.match(line)
        if not match or not match["ref"].startswith(prefix):
            continue
        entry = _words(f"{match['name']} {match['description'] or ''}")
        name_words = _words(match["name"])
        scored.append((-(len(wanted & entry) + 2 * len(wanted & name_words)), int(match["ref"][1:]), match))
    scored.sort(key=lambda item: item[:2])
    kind = ("image_to_video" if has_image else "text_to_video") if video else "text_to_image"
    models = {
        "text_to_image": ["soul", "flux-kontext", "nano-banana"],
        "text_to_video": ["seedance-v1-lite-t2v", "minimax-t2v", "kling-2-5-t2v"],
        "image_to_video": ["dop", "kling-2-5", "seedance"],
    }[kind]
    subject = message.split("\n\n[")[0].strip().rstrip(".")
    last = body["messages"][-1]["content"]
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last if isinstance(b, dict)):
        # A correction round: offer the next entry in place of the refused one.
        scored = scored[2:]
        blocks = []
        invent_first = False
    else:
        blocks = [text(f"Here are three ways to make {subject}, each with its own look.")]
    picks = scored[:2] if invent_first else scored[:3]
    for index, ((_, _, match), model) in enumerate(zip(picks, models, strict=False)):
        ref = f"{prefix}999" if invent_first and index == 0 else match["ref"]
        blocks.append(
            tool_use(
                "add_option",
                {
                    "kind": kind,
                    "model": model,
                    "ref": ref,
                    "prompt": _brief(subject, match["name"].strip()),
                    "reason": f"{match['name'].strip()} matches the words of your request.",
                },
            )
        )
    return reply(*blocks, delay=delay)
