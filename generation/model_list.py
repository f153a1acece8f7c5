"""The generation models we offer: the names clients send, the modes each serves.

Kinds and modes: an option's kind is `text_to_image`, `image_to_video` or `text_to_video`;
the API's `mode` spells the same with hyphens.
"""

from dataclasses import dataclass

TEXT_TO_IMAGE = "text_to_image"
IMAGE_TO_VIDEO = "image_to_video"
TEXT_TO_VIDEO = "text_to_video"
KINDS = (TEXT_TO_IMAGE, IMAGE_TO_VIDEO, TEXT_TO_VIDEO)


@dataclass(frozen=True)
class GenerationModel:
    key: str
    label: str
    kind: str
    provider_model_id: str
    takes_style: bool = False
    takes_motion: bool = False
    summary: str = ""


MODELS: dict[str, GenerationModel] = {
    m.key: m
    for m in [
        GenerationModel(
            "soul",
            "Higgsfield Soul",
            TEXT_TO_IMAGE,
            "higgsfield-ai/soul/standard",
            takes_style=True,
            summary="Fashion-grade photorealism that applies Higgsfield styles directly.",
        ),
        GenerationModel(
            "nano-banana",
            "Nano Banana",
            TEXT_TO_IMAGE,
            "nano-banana",
            summary="Fast, faithful to long prompts, strong with text and layout.",
        ),
        GenerationModel(
            "seedream",
            "Seedream 4",
            TEXT_TO_IMAGE,
            "bytedance/seedream/v4/text-to-image",
            summary="Rich detail and vivid colour at high resolution.",
        ),
        GenerationModel(
            "dop",
            "Higgsfield DoP",
            IMAGE_TO_VIDEO,
            "higgsfield-ai/dop/standard",
            takes_motion=True,
            summary="Cinematic camera moves from Higgsfield's motion presets.",
        ),
        GenerationModel(
            "kling-2-5",
            "Kling 2.5",
            IMAGE_TO_VIDEO,
            "kling-video/v2.5/turbo/image-to-video",
            summary="Smooth, physically believable motion from a still.",
        ),
        GenerationModel(
            "seedance",
            "Seedance Pro",
            IMAGE_TO_VIDEO,
            "bytedance/seedance/v1/pro/image-to-video",
            summary="Steady multi-shot motion that keeps the subject consistent.",
        ),
        GenerationModel(
            "wan-25-fast",
            "Wan 2.5 Fast",
            IMAGE_TO_VIDEO,
            "wan/v2.5/fast/image-to-video",
            summary="Quick, inexpensive animation for drafts.",
        ),
        GenerationModel(
            "minimax",
            "MiniMax Hailuo",
            IMAGE_TO_VIDEO,
            "minimax/hailuo-02/image-to-video",
            summary="Expressive motion with natural faces and gestures.",
        ),
        GenerationModel(
            "minimax-t2v",
            "MiniMax Hailuo T2V",
            TEXT_TO_VIDEO,
            "minimax/hailuo-02/text-to-video",
            summary="Video straight from a written scene.",
        ),
        GenerationModel(
            "seedance-v1-lite-t2v",
            "Seedance Lite T2V",
            TEXT_TO_VIDEO,
            "bytedance/seedance/v1/lite/text-to-video",
            summary="Light, quick text-to-video for short clips.",
        ),
    ]
}


def models_for_kind(kind: str) -> list[GenerationModel]:
    return [m for m in MODELS.values() if m.kind == kind]


def kind_from_mode(mode: str) -> str:
    """`text-to-image` → `text_to_image`."""
    return mode.replace("-", "_")
