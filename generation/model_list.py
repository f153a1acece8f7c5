"""The generation models we offer: the names clients send, the modes each serves.

Kinds and modes: an option's kind is `text_to_image`, `image_to_video` or `text_to_video`;
the API's `mode` spells the same with hyphens.
"""

from dataclasses import dataclass, field

TEXT_TO_IMAGE = "text_to_image"
IMAGE_TO_VIDEO = "image_to_video"
TEXT_TO_VIDEO = "text_to_video"
KINDS = (TEXT_TO_IMAGE, IMAGE_TO_VIDEO, TEXT_TO_VIDEO)


class ParameterError(ValueError):
    """A parameter this model cannot take, or a value out of its range; said before anything is spent."""


ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")


def _choice(*allowed):
    def check(name, value):
        if value not in allowed:
            raise ParameterError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}.")
        return value

    return check


def _int_range(low, high):
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ParameterError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
        return value

    return check


def _unit_float(name, value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ParameterError(f"{name} must be a number from 0 to 1; got {value!r}.")
    return float(value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be true or false; got {value!r}.")
    return value


SEED = _int_range(0, 1_000_000)
VIDEO_RESOLUTIONS = _choice("480p", "720p", "1080p")


@dataclass(frozen=True)
class GenerationModel:
    key: str
    label: str
    kind: str
    provider_model_id: str
    summary: str = ""
    takes_style: bool = False
    takes_motion: bool = False
    # The parameters this model takes, each with its check; anything else is refused.
    accepts: dict = field(default_factory=dict)
    # Sent when the request does not say.
    defaults: dict = field(default_factory=dict)

    def check_parameters(self, parameters: dict) -> dict:
        """The parameters, checked against what this model takes; None values count as absent."""
        given = {k: v for k, v in parameters.items() if v is not None}
        unknown = sorted(set(given) - set(self.accepts))
        if unknown:
            takes = ", ".join(sorted(self.accepts)) or "no parameters"
            raise ParameterError(f"{self.label} cannot take {', '.join(unknown)} (it takes {takes}).")
        checked = dict(self.defaults)
        for name, value in given.items():
            checked[name] = self.accepts[name](name, value)
        return checked

    def build_input(self, *, prompt: str, parameters: dict, style_id=None, motion_id=None, image_url="") -> dict:
        """The provider's input body for this model: the prompt, the checked parameters, style or motion, image."""
        body = {"prompt": prompt}
        params = dict(parameters)
        style_strength = params.pop("style_strength", 1.0)
        motion_strength = params.pop("motion_strength", 0.5)
        if self.kind == IMAGE_TO_VIDEO:
            body["image_url"] = image_url
        if self.takes_style and style_id:
            body["style_id"] = str(style_id)
            body["style_strength"] = style_strength
        if self.takes_motion and motion_id:
            body["motions"] = [{"id": str(motion_id), "strength": motion_strength}]
        body.update(params)
        return body


MODELS: dict[str, GenerationModel] = {
    m.key: m
    for m in [
        GenerationModel(
            "soul",
            "Higgsfield Soul",
            TEXT_TO_IMAGE,
            "higgsfield-ai/soul/standard",
            "Fashion-grade photorealism that applies Higgsfield styles directly.",
            takes_style=True,
            accepts={
                "aspect_ratio": _choice(*ASPECT_RATIOS),
                "quality": _choice("720p", "1080p", "basic", "high"),
                "seed": SEED,
                "style_strength": _unit_float,
                "enhance_prompt": _flag,
            },
            defaults={"aspect_ratio": "16:9", "quality": "1080p"},
        ),
        GenerationModel(
            "nano-banana",
            "Nano Banana",
            TEXT_TO_IMAGE,
            "nano-banana",
            "Fast, faithful to long prompts, strong with text and layout.",
            accepts={"aspect_ratio": _choice(*ASPECT_RATIOS), "seed": SEED},
            defaults={"aspect_ratio": "16:9"},
        ),
        GenerationModel(
            "seedream",
            "Seedream 4",
            TEXT_TO_IMAGE,
            "bytedance/seedream/v4/text-to-image",
            "Rich detail and vivid colour at high resolution.",
            accepts={"aspect_ratio": _choice(*ASPECT_RATIOS), "quality": _choice("basic", "high"), "seed": SEED},
            defaults={"aspect_ratio": "16:9", "quality": "basic"},
        ),
        GenerationModel(
            "dop",
            "Higgsfield DoP",
            IMAGE_TO_VIDEO,
            "higgsfield-ai/dop/standard",
            "Cinematic camera moves from Higgsfield's motion presets.",
            takes_motion=True,
            accepts={"seed": SEED, "motion_strength": _unit_float, "enhance_prompt": _flag},
        ),
        GenerationModel(
            "kling-2-5",
            "Kling 2.5",
            IMAGE_TO_VIDEO,
            "kling-video/v2.5/turbo/image-to-video",
            "Smooth, physically believable motion from a still.",
            accepts={"duration": _choice(5, 10), "seed": SEED},
            defaults={"duration": 5},
        ),
        GenerationModel(
            "seedance",
            "Seedance Pro",
            IMAGE_TO_VIDEO,
            "bytedance/seedance/v1/pro/image-to-video",
            "Steady multi-shot motion that keeps the subject consistent.",
            accepts={"duration": _choice(5, 10), "resolution": VIDEO_RESOLUTIONS, "seed": SEED},
            defaults={"duration": 5, "resolution": "720p"},
        ),
        GenerationModel(
            "wan-25-fast",
            "Wan 2.5 Fast",
            IMAGE_TO_VIDEO,
            "wan/v2.5/fast/image-to-video",
            "Quick, inexpensive animation for drafts.",
            accepts={"duration": _choice(5, 10), "resolution": VIDEO_RESOLUTIONS, "seed": SEED},
            defaults={"duration": 5, "resolution": "720p"},
        ),
        GenerationModel(
            "minimax",
            "MiniMax Hailuo",
            IMAGE_TO_VIDEO,
            "minimax/hailuo-02/image-to-video",
            "Expressive motion with natural faces and gestures.",
            accepts={"duration": _choice(6, 10), "resolution": _choice("768p", "1080p"), "enhance_prompt": _flag},
            defaults={"duration": 6, "resolution": "768p"},
        ),
        GenerationModel(
            "minimax-t2v",
            "MiniMax Hailuo T2V",
            TEXT_TO_VIDEO,
            "minimax/hailuo-02/text-to-video",
            "Video straight from a written scene.",
            accepts={"duration": _choice(6, 10), "resolution": _choice("768p", "1080p"), "enhance_prompt": _flag},
            defaults={"duration": 6, "resolution": "768p"},
        ),
        GenerationModel(
            "seedance-v1-lite-t2v",
            "Seedance Lite T2V",
            TEXT_TO_VIDEO,
            "bytedance/seedance/v1/lite/text-to-video",
            "Light, quick text-to-video for short clips.",
            accepts={
                "duration": _choice(5, 10),
                "resolution": VIDEO_RESOLUTIONS,
                "aspect_ratio": _choice(*ASPECT_RATIOS),
                "seed": SEED,
            },
            defaults={"duration": 5, "resolution": "720p"},
        ),
    ]
}


def models_for_kind(kind: str) -> list[GenerationModel]:
    return [m for m in MODELS.values() if m.kind == kind]


def kind_from_mode(mode: str) -> str:
    """`text-to-image` → `text_to_image`."""
    return mode.replace("-", "_")
