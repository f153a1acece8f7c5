"""The local preview renderer: real PNGs and H.264 MP4s that probe() accepts, the same bytes for the same words;
and the preview provider's video jobs, which end as MP4 attachments shown in a <video>."""

import io
import struct

import av
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image, ImageChops, ImageStat

from generation.media import MediaError, MediaInfo, probe
from generation.preview import render_clip, render_image
from generation.tests.conftest import finish, photo_options, start


def pixels(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def decoded(data):
    """What PyAV reads back from an MP4: the video stream's facts, and every frame as an RGB image."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "seconds": container.duration / av.time_base,
        }
        return facts, [frame.to_image() for frame in container.decode(stream)]


def clip_frames(data):
    return decoded(data)[1]


def top_level_boxes(data):
    """The types of an MP4's top-level boxes, in file order."""
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
        kinds.append(kind.decode("latin-1"))
        pos += size or len(data)
    return kinds


def mean(image, box=None):
    return ImageStat.Stat(image.crop(box) if box else image).mean


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def halves(size, first, second, *, vertical=False):
    """An image split in two colours: left and right, or top and bottom."""
    image = Image.new("RGB", size, first)
    width, height = size
    image.paste(second, (0, height // 2, width, height) if vertical else (width // 2, 0, width, height))
    return image


# Images


def test_it_renders_a_png_of_the_asked_size():
    data = render_image(prompt="a lighthouse on a cliff", style_name="Cinematic")

    assert probe(data) == MediaInfo("image/png", "image", "png", 1024, 768, None)


@pytest.mark.parametrize("size", [(512, 512), (360, 640), (1920, 1080), (16, 16)])
def test_it_renders_other_sizes(size):
    data = render_image(prompt="a lighthouse on a cliff", width=size[0], height=size[1])

    assert (probe(data).width, probe(data).height) == size


def test_the_same_words_give_the_same_bytes():
    first = render_image(prompt="a cat in a hat", style_name="Watercolor", width=400, height=300)
    second = render_image(prompt="a cat in a hat", style_name="Watercolor", width=400, height=300)

    assert first == second


def test_other_words_style_or_seed_give_other_bytes():
    base = render_image(prompt="a cat in a hat", style_name="Watercolor", width=400, height=300)

    assert render_image(prompt="a dog in a hat", style_name="Watercolor", width=400, height=300) != base
    assert render_image(prompt="a cat in a hat", style_name="Glitch", width=400, height=300) != base
    assert render_image(prompt="a cat in a hat", style_name="Watercolor", width=400, height=300, seed=7) != base


def test_scene_words_nudge_the_palette():
    def colour(prompt):
        return mean(pixels(render_image(prompt=prompt, width=320, height=240)))

    ocean, sunset = colour("waves on the ocean"), colour("a sunset over the hills")
    night, snow = colour("a quiet night in town"), colour("a snowy village")
    forest = colour("a path through the forest")

    assert ocean[2] > ocean[0]  # bluer than red
    assert sunset[0] > sunset[2]
    assert sum(snow) > sum(night) + 200
    assert forest[1] > forest[0] and forest[1] > forest[2]


def test_it_marks_the_image_as_a_local_preview():
    # The banner is a dark band across the top, whatever the palette under it.
    image = pixels(render_image(prompt="a snowy village", width=800, height=600))
    band, sky = mean(image, (0, 0, 800, 20)), mean(image, (0, 80, 800, 120))

    assert sum(band) < sum(sky) - 150


def test_it_refuses_an_absurd_size():
    with pytest.raises(ValueError, match="16 to 4096"):
        render_image(prompt="x", width=100_000, height=100_000)


# Clips


def test_it_renders_an_h264_mp4_that_a_browser_can_play_at_once():
    data = render_clip(prompt="a red fox in the snow", motion_name="Dolly In")

    facts, frames = decoded(data)
    assert facts["codec"] == "h264"
    assert facts["pix_fmt"] == "yuv420p"
    assert facts["size"] == (640, 360)
    assert abs(facts["seconds"] - 72 / 24) <= 0.2
    assert len(frames) >= 72
    boxes = top_level_boxes(data)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: playback starts before the whole file is in
    assert len(data) < 1_500_000
    assert probe(data) == MediaInfo("video/mp4", "video", "mp4", 640, 360, 3000)


def test_it_honours_frames_fps_and_size():
    data = render_clip(prompt="a red fox in the snow", width=320, height=240, frames=50, fps=20)

    facts, frames = decoded(data)
    assert facts["size"] == (320, 240)
    assert abs(facts["seconds"] - 2.5) <= 0.2
    assert len(frames) == 50
    assert probe(data).duration_ms == 2500


def test_it_refuses_an_odd_size_that_yuv420p_cannot_hold():
    with pytest.raises(ValueError, match="must be even"):
        render_clip(prompt="x", width=321, height=240)


def test_the_same_clip_request_gives_the_same_clip():
    # x264 may settle a few bits differently from one run to the next: the pictures are what must match.
    first = render_clip(prompt="boats in a harbour", motion_name="Pan Left", width=320, height=180, frames=6)
    second = render_clip(prompt="boats in a harbour", motion_name="Pan Left", width=320, height=180, frames=6)

    frames = [[f.to_image() for f in av.open(io.BytesIO(clip)).decode(video=0)] for clip in (first, second)]
    assert len(frames[0]) == len(frames[1]) == 6
    for a, b in zip(*frames, strict=True):
        assert sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3 < 2


def test_the_first_frame_shows_the_source_image():
    # A 4:3 source, red on the left and teal on the right, cropped to fill 16:9.
    source = png(halves((800, 600), (220, 40, 40), (30, 160, 150)))

    first = clip_frames(render_clip(prompt="a flag", motion_name="Zoom In", source=source))[0]

    left, right = mean(first, (40, 120, 280, 240)), mean(first, (360, 120, 600, 240))
    for got, expected in [(left, (220, 40, 40)), (right, (30, 160, 150))]:
        assert all(abs(g - e) < 12 for g, e in zip(got, expected, strict=True)), (got, expected)


def test_it_accepts_a_jpeg_source_with_transparency_free_modes_and_a_transparent_png():
    jpeg = io.BytesIO()
    Image.new("L", (300, 200), 128).save(jpeg, "JPEG")
    transparent = png(Image.new("RGBA", (300, 200), (0, 0, 0, 0)))

    for source in (jpeg.getvalue(), transparent):
        assert probe(render_clip(prompt="x", source=source, frames=2)).width == 640


def test_a_clip_of_a_source_full_of_detail_stays_under_1_mb():
    noise = io.BytesIO()
    Image.effect_noise((1600, 1200), 80).convert("RGB").save(noise, "JPEG", quality=95)

    data = render_clip(prompt="leaves", motion_name="Pan Right", source=noise.getvalue())

    assert len(data) < 1_000_000
    assert probe(data).duration_ms == 3000


def test_it_refuses_a_source_that_is_not_an_image():
    with pytest.raises(MediaError, match="not an image or video we accept"):
        render_clip(prompt="x", source=b"%PDF-1.7")


@pytest.mark.parametrize(
    ("motion", "vertical", "green_rises"),
    [
        ("Pan Left", False, False),  # the view travels from the right (teal) half to the left (red) half
        ("Pan Right", False, True),
        ("Crane Up", True, True),  # from the lower (dark) half towards the upper (light) half
        ("Tilt Down", True, False),
    ],
)
def test_the_camera_moves_the_way_the_motion_says(motion, vertical, green_rises):
    # Both sources have far more green in one half: teal on the right, light grey on top.
    colours = ((230, 230, 230), (20, 20, 20)) if vertical else ((220, 40, 40), (30, 160, 150))
    source = png(halves((960, 540), *colours, vertical=vertical))

    frames = clip_frames(render_clip(prompt="x", motion_name=motion, source=source, width=320, height=180))

    first, last = mean(frames[0], (0, 40, 320, 150))[1], mean(frames[-1], (0, 40, 320, 150))[1]
    assert (last - first if green_rises else first - last) > 15, (first, last)


def test_zoom_in_enlarges_the_middle_and_zoom_out_shrinks_it():
    source = Image.new("RGB", (960, 540), (20, 20, 20))
    source.paste((240, 240, 240), (380, 170, 580, 370))  # a light square in the middle
    centre_light = {}
    for motion in ("Zoom In", "Zoom Out"):
        frames = clip_frames(render_clip(prompt="x", motion_name=motion, source=png(source), width=320, height=180))
        centre_light[motion] = [sum(mean(frame, (60, 40, 260, 150))) for frame in (frames[0], frames[-1])]

    assert centre_light["Zoom In"][1] > centre_light["Zoom In"][0] + 30
    assert centre_light["Zoom Out"][1] < centre_light["Zoom Out"][0] - 30


def test_an_orbit_turns_the_horizon():
    source = halves((960, 540), (230, 230, 230), (20, 20, 20), vertical=True)
    frames = clip_frames(render_clip(prompt="x", motion_name="360 Orbit", source=png(source), width=320, height=180))

    def tilt(frame):  # brightness just below the centre line, right side minus left side
        return sum(mean(frame, (230, 95, 300, 115))) - sum(mean(frame, (20, 95, 90, 115)))

    assert abs(tilt(frames[0])) < 30
    assert abs(tilt(frames[-1])) > 100


def test_every_move_renders_without_a_source():
    for motion in ("Dolly In", "Arc Left", "Jib Down", "Whip Pan", "Static", ""):
        data = render_clip(prompt="a neon street at night", motion_name=motion, width=320, height=180, frames=4)
        frames = clip_frames(data)
        assert len(frames) == 4
        assert frames[0].tobytes() != frames[-1].tobytes(), motion


# Video jobs on the preview provider


def stored(attachment):
    with default_storage.open(attachment.file.name, "rb") as handle:
        return handle.read()


@pytest.mark.django_db(transaction=True)
def test_a_preview_video_job_stores_an_mp4_attachment_measured_as_decoded(alice_api, seed_catalogue, run_worker):
    generation_id = start(
        alice_api, mode="text-to-video", model_name="minimax-t2v", prompt="waves rolling onto a beach at dawn"
    )

    generation = finish(run_worker, generation_id)

    assert generation.status == "completed", generation.error
    attachment = generation.result
    assert (attachment.mime, attachment.kind) == ("video/mp4", "video")
    assert attachment.file.name.endswith(".mp4")
    facts, frames = decoded(stored(attachment))
    assert (facts["codec"], facts["pix_fmt"]) == ("h264", "yuv420p")
    assert (attachment.width, attachment.height) == facts["size"]
    assert abs(attachment.duration_ms / 1000 - facts["seconds"]) <= 0.05
    assert len(frames) >= 48


@pytest.fixture
def image_option(alice_api, seed_catalogue):
    """An image-to-video option for a message with an uploaded green image, and the image's colour."""
    colour = (30, 160, 90)
    options, _ticket = photo_options(alice_api, png(Image.new("RGB", (160, 120), colour)), "make the field orbit")
    return options[0], colour


@pytest.mark.django_db(transaction=True)
def test_an_image_to_video_preview_shows_the_uploaded_image_in_a_video_element(
    alice, alice_api, image_option, run_worker
):
    option, colour = image_option

    generation = finish(run_worker, start(alice_api, mode="image-to-video", option_id=option["id"]))

    assert generation.status == "completed", generation.error
    attachment = generation.result
    assert (attachment.mime, attachment.kind) == ("video/mp4", "video")
    first = decoded(stored(attachment))[1][0]
    middle = mean(first, (160, 80, 480, 220))  # below the banner, above the caption
    assert all(abs(got - want) < 12 for got, want in zip(middle, colour, strict=True)), (middle, colour)
    # The reply that offered the option, and the chat page, show it as a video.
    chunk = generation.option.message.render_payload[-1]
    assert (chunk["type"], chunk["mime"]) == ("video", "video/mp4")
    client = Client()
    client.force_login(alice)
    page = client.get(f"/chats/{generation.chat_id}/").content.decode()
    assert f'<video class="result" src="{attachment.file.url}" controls' in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("mode", "model_name", "ratio", "size"),
    [
        ("text-to-image", "flux-kontext", "9:16", (576, 1024)),
        ("text-to-image", "flux-kontext", "1:1", (1024, 1024)),
        ("text-to-video", "minimax-t2v", None, (640, 360)),
    ],
)
def test_the_preview_is_made_in_the_frame_asked_for(
    alice_api, seed_catalogue, run_worker, mode, model_name, ratio, size
):
    extra = {"parameters": {"aspect_ratio": ratio}} if ratio else {}
    generation_id = start(alice_api, mode=mode, model_name=model_name, prompt="a lighthouse keeper", **extra)

    generation = finish(run_worker, generation_id)

    assert generation.status == "completed", generation.error
    assert (generation.result.width, generation.result.height) == size
