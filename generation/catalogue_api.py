"""The catalogue endpoints: the enabled styles and motions, in catalogue order."""

import uuid

from ninja import Router, Schema

from . import selectors

router = Router(tags=["catalogue"])


class StyleOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    preview_url: str


class MotionOut(StyleOut):
    start_end_frame: bool


@router.get("/higgsfield/text2image/styles", response=list[StyleOut], auth=None)
def style_list(request):
    return list(selectors.style_list())


@router.get("/higgsfield/image2video/motions", response=list[MotionOut], auth=None)
def motion_list(request):
    return list(selectors.motion_list())


@router.get("/higgsfield/motions", response=list[MotionOut], auth=None)
def motion_list_alias(request):
    return list(selectors.motion_list())
