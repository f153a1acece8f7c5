"""probe(): images made with Pillow, MP4/MOV and WebM built by hand, MP4s written by FFmpeg (PyAV), and
everything it must refuse."""

import io
import random
import struct
import zlib
from fractions import Fraction

import av
import pytest
from PIL import Image

from generation.media import ALLOWED_MIME, MAX_PIXELS, MediaError, MediaInfo, probe

# Images


def image_bytes(fmt, size=(64, 48), colour=(200, 40, 90), **save):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt, **save)
    return buffer.getvalue()


def animation_bytes(fmt, durations, size=(40, 30), **save):
    frames = [Image.new("RGB", size, (i * 70 % 256, 255 - i * 50, 30 * i)) for i in range(len(durations))]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=durations, loop=0, **save)
    return buffer.getvalue()


def png_header(width, height):
    """A PNG claiming width x height with a few bytes of pixel data: what a bomb looks like before decoding."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "mime", "extension"),
    [
        ("JPEG", "image/jpeg", "jpg"),
        ("PNG", "image/png", "png"),
        ("WEBP", "image/webp", "webp"),
        ("GIF", "image/gif", "gif"),
    ],
)
def test_it_reads_a_still_image(fmt, mime, extension):
    info = probe(image_bytes(fmt, size=(64, 48)))

    assert info == MediaInfo(mime, "image", extension, 64, 48, None)
    assert info.mime in ALLOWED_MIME


def test_it_sums_the_frame_durations_of_an_animated_webp():
    info = probe(animation_bytes("WEBP", [100, 250, 400], quality=60))

    assert info == MediaInfo("image/webp", "image", "webp", 40, 30, 750)


def test_it_sums_the_frame_durations_of_an_animated_gif():
    info = probe(animation_bytes("GIF", [100, 250, 400]))

    assert info == MediaInfo("image/gif", "image", "gif", 40, 30, 750)


def test_it_gives_the_displayed_size_of_a_jpeg_turned_by_exif():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown, as phone cameras write
    info = probe(image_bytes("JPEG", size=(64, 48), exif=exif))

    assert (info.width, info.height) == (48, 64)


def test_it_goes_by_the_bytes_not_what_the_file_claims_to_be():
    # A PNG whose bytes happen to contain "JFIF" and ".jpg" is still a PNG.
    data = image_bytes("PNG") + b"JFIF photo.jpg"

    assert probe(data).mime == "image/png"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_it_refuses_an_image_cut_in_the_middle(fmt):
    noise = Image.effect_noise((200, 150), 60).convert("RGB")  # noise, so the pixel data is long
    buffer = io.BytesIO()
    noise.save(buffer, fmt)
    data = buffer.getvalue()

    with pytest.raises(MediaError, match="not an image or video we accept"):
        probe(data[: len(data) // 2])


def test_it_refuses_an_animated_gif_cut_between_frames():
    data = animation_bytes("GIF", [100, 100, 100])
    with pytest.raises(MediaError, match="cut short"):
        probe(data[: len(data) - 20])


def test_it_refuses_an_image_over_fifty_megapixels_without_decoding_it():
    data = png_header(10_000, 6_000)  # 60 megapixels claimed in 33 bytes

    with pytest.raises(MediaError, match="10000x6000, over 50 megapixels"):
        probe(data)
    assert 10_000 * 6_000 > MAX_PIXELS


def test_it_refuses_an_image_over_pillows_own_bomb_limit():
    with pytest.raises(MediaError, match="too large"):
        probe(png_header(20_000, 20_000))


# MP4 and MOV, built box by box

IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
QUARTER_TURN = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def box(kind, *children):
    payload = b"".join(children)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mvhd(timescale, duration, version=0):
    if version == 0:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    else:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    rest = struct.pack(">IH10x9i24xI", 0x10000, 0x100, *IDENTITY, 2)
    return box(b"mvhd", bytes([version, 0, 0, 0]), times, rest)


def tkhd(width, height, version=0, matrix=IDENTITY):
    if version == 0:
        times = struct.pack(">IIIII", 0, 0, 1, 0, 0)
    else:
        times = struct.pack(">QQIIQ", 0, 0, 1, 0, 0)
    rest = struct.pack(">8xhhHxx9iII", 0, 0, 0, *matrix, width << 16, height << 16)
    return box(b"tkhd", bytes([version, 0, 0, 3]), times, rest)


def hdlr(handler):
    return box(b"hdlr", bytes(4), bytes(4), handler, bytes(12), b"\x00")


def video_trak(width=1920, height=1080, **tkhd_options):
    return box(b"trak", tkhd(width, height, **tkhd_options), box(b"mdia", hdlr(b"vide")))


def mp4(*moov_children, brand=b"isom"):
    ftyp = box(b"ftyp", brand, struct.pack(">I", 512), brand, b"mp41")
    return ftyp + box(b"moov", *moov_children) + box(b"mdat", bytes(32))


def test_it_reads_duration_and_size_of_an_mp4():
    data = mp4(mvhd(600, 3000), box(b"trak", tkhd(1920, 1080)))

    assert probe(data) == MediaInfo("video/mp4", "video", "mp4", 1920, 1080, 5000)


def test_it_reads_a_version_1_mvhd_and_tkhd():
    long_duration = 90_000 * 50_000  # 50,000 s: more than 32 bits hold
    data = mp4(mvhd(90_000, long_duration, version=1), video_trak(1280, 720, version=1))

    info = probe(data)

    assert (info.width, info.height, info.duration_ms) == (1280, 720, 50_000_000)


def test_it_names_quicktime_by_its_brand():
    info = probe(mp4(mvhd(1000, 2500), video_trak(), brand=b"qt  "))

    assert (info.mime, info.extension, info.duration_ms) == ("video/quicktime", "mov", 2500)
    assert info.mime in ALLOWED_MIME


def test_it_reads_boxes_with_64_bit_sizes():
    payload = bytes(40)
    large_mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    moov_children = mvhd(600, 3000) + video_trak()
    large_moov = struct.pack(">I4sQ", 1, b"moov", 16 + len(moov_children)) + moov_children
    data = box(b"ftyp", b"mp42", bytes(4), b"mp42") + large_mdat + large_moov

    assert probe(data) == MediaInfo("video/mp4", "video", "mp4", 1920, 1080, 5000)


def test_it_reads_a_last_box_whose_size_0_means_to_the_end():
    moov_children = mvhd(600, 1200) + video_trak()
    data = box(b"ftyp", b"isom", bytes(4)) + struct.pack(">I4s", 0, b"moov") + moov_children

    assert probe(data).duration_ms == 2000


def test_it_skips_an_audio_track_before_the_video_track():
    audio = box(b"trak", tkhd(0, 0), box(b"mdia", hdlr(b"soun")))
    bare_audio = box(b"trak", tkhd(0, 0))  # no handler: a 0x0 track header says audio too

    info = probe(mp4(mvhd(600, 3000), audio, bare_audio, video_trak(1080, 1920)))

    assert (info.width, info.height) == (1080, 1920)


def test_it_turns_the_size_of_a_portrait_phone_video():
    info = probe(mp4(mvhd(600, 3000), video_trak(1920, 1080, matrix=QUARTER_TURN)))

    assert (info.width, info.height) == (1080, 1920)


def test_it_takes_a_fragmented_mp4s_duration_from_mehd():
    mehd = box(b"mehd", bytes(4), struct.pack(">I", 1800))

    info = probe(mp4(mvhd(600, 0), box(b"mvex", mehd), video_trak()))

    assert info.duration_ms == 3000


def test_it_leaves_an_unknown_duration_empty():
    assert probe(mp4(mvhd(600, 0xFFFFFFFF), video_trak())).duration_ms is None


def test_it_refuses_audio_without_video():
    audio = box(b"trak", tkhd(0, 0), box(b"mdia", hdlr(b"soun")))

    with pytest.raises(MediaError, match="no video track"):
        probe(mp4(mvhd(44_100, 44_100), audio, brand=b"M4A "))


def test_it_refuses_a_heic_image():
    data = box(b"ftyp", b"heic", bytes(4), b"mif1heic") + box(b"meta", bytes(4))

    with pytest.raises(MediaError, match="HEIC or AVIF"):
        probe(data)


def test_it_refuses_an_mp4_without_its_moov():
    with pytest.raises(MediaError, match="no index"):
        probe(box(b"ftyp", b"isom", bytes(4)) + box(b"mdat", bytes(64)))


def test_it_refuses_an_mp4_whose_box_runs_past_the_end():
    data = mp4(mvhd(600, 3000), video_trak())

    with pytest.raises(MediaError, match="runs past the end"):
        probe(data[:-10])


@pytest.mark.parametrize(
    "bad_box",
    [
        struct.pack(">I4s", 4, b"free") * 8,  # smaller than its own header
        struct.pack(">I4sQ", 1, b"free", 0) * 4,  # a 64-bit size of 0
        struct.pack(">I4sQ", 1, b"free", 1) * 4,
        struct.pack(">I4sQ", 1, b"free", 4) * 4,
        struct.pack(">I4sQ", 1, b"free", 2**63) * 4,  # far past the end
        struct.pack(">I4s", 2**32 - 1, b"free"),
        b"\x00\x00\x00",  # a header cut short
    ],
)
def test_it_refuses_impossible_box_sizes_instead_of_looping(bad_box):
    with pytest.raises(MediaError, match="not an image or video we accept"):
        probe(mp4(mvhd(600, 3000), video_trak()) + bad_box)
    with pytest.raises(MediaError, match="not an image or video we accept"):
        probe(mp4(mvhd(600, 3000), bad_box, video_trak()))


def test_a_size_0_box_inside_moov_ends_the_walk_of_moov():
    # Size 0 means "to the end of the parent", so the trak after it is swallowed, not looped over.
    zero = struct.pack(">I4s", 0, b"free")

    with pytest.raises(MediaError, match="no video track"):
        probe(mp4(mvhd(600, 3000), zero, video_trak()))


def ffmpeg_mp4(target, *, faststart, size=(320, 240), frames=30, fps=15):
    """An H.264 MP4 as FFmpeg's muxer writes it (B-frames, an edit list), its index first or after the media."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(target, "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", size, (index * 8, 90, 200 - index * 5)))
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def top_level_boxes(data):
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        kinds.append(kind)
        pos += size
    return kinds


@pytest.mark.parametrize("faststart", [True, False])
def test_it_reads_an_mp4_that_ffmpeg_wrote_with_its_index_first_or_last(faststart, tmp_path):
    # +faststart rewrites the file in a second pass that reopens it by name, so it needs a real file.
    path = tmp_path / "clip.mp4"
    ffmpeg_mp4(str(path), faststart=faststart)
    data = path.read_bytes()

    boxes = top_level_boxes(data)
    assert (boxes.index(b"moov") < boxes.index(b"mdat")) == faststart
    assert probe(data) == MediaInfo("video/mp4", "video", "mp4", 320, 240, 2000)


# WebM and Matroska, built element by element


def element(element_id, *children):
    payload = b"".join(children)
    size = b"\x01" + len(payload).to_bytes(7, "big")  # the 8-byte size form, valid for any length
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + payload


def uint_element(element_id, value):
    return element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def ebml_header(doc_type=b"webm"):
    return element(0x1A45DFA3, uint_element(0x4286, 1), uint_element(0x42F2, 4), element(0x4282, doc_type))


def info(duration=None, timecode_scale=None, float_format=">d"):
    children = []
    if timecode_scale is not None:
        children.append(uint_element(0x2AD7B1, timecode_scale))
    if duration is not None:
        children.append(element(0x4489, struct.pack(float_format, duration)))
    return element(0x1549A966, *children)


def track(track_type, width=None, height=None):
    children = [uint_element(0xD7, 1), uint_element(0x83, track_type)]
    if width is not None:
        children.append(element(0xE0, uint_element(0xB0, width), uint_element(0xBA, height)))
    return element(0xAE, *children)


def webm(*segment_children, doc_type=b"webm"):
    cluster = element(0x1F43B675, uint_element(0xE7, 0), element(0xA3, bytes(20)))
    return ebml_header(doc_type) + element(0x18538067, *segment_children, cluster)


def test_it_reads_duration_and_size_of_a_webm():
    data = webm(info(4500.0, 1_000_000), element(0x1654AE6B, track(2), track(1, 1280, 720)))

    assert probe(data) == MediaInfo("video/webm", "video", "webm", 1280, 720, 4500)


def test_it_scales_a_float32_duration_by_the_timecode_scale():
    data = webm(info(2_500_000.0, 1000, float_format=">f"), element(0x1654AE6B, track(1, 640, 360)))

    assert probe(data).duration_ms == 2500


def test_it_uses_the_default_timecode_scale():
    assert probe(webm(info(1234.0), element(0x1654AE6B, track(1, 640, 360)))).duration_ms == 1234


def test_it_names_matroska_by_its_doctype():
    info_ = probe(webm(info(1000.0), doc_type=b"matroska"))

    assert (info_.mime, info_.extension) == ("video/x-matroska", "mkv")
    assert info_.mime not in ALLOWED_MIME


def test_it_reads_a_live_recording_with_unknown_sizes():
    # MediaRecorder writes a Segment and Clusters of unknown size, and no Duration.
    tracks = element(0x1654AE6B, track(1, 320, 240))
    cluster = b"\x1f\x43\xb6\x75\xff" + uint_element(0xE7, 0)
    data = ebml_header() + b"\x18\x53\x80\x67\xff" + info(timecode_scale=1_000_000) + tracks + cluster

    assert probe(data) == MediaInfo("video/webm", "video", "webm", 320, 240, None)


def test_it_leaves_size_and_duration_empty_when_the_webm_does_not_say():
    assert probe(webm()) == MediaInfo("video/webm", "video", "webm", None, None, None)


def test_it_refuses_a_webm_with_only_audio():
    with pytest.raises(MediaError, match="no video track"):
        probe(webm(info(1000.0), element(0x1654AE6B, track(2))))


def test_it_refuses_a_webm_cut_short():
    data = webm(info(4500.0), element(0x1654AE6B, track(1, 1280, 720)))

    with pytest.raises(MediaError, match="not an image or video we accept"):
        probe(data[:-5])


def test_it_refuses_another_ebml_doctype():
    with pytest.raises(MediaError, match="'notwebm'"):
        probe(webm(doc_type=b"notwebm"))


# Everything else


@pytest.mark.parametrize(
    ("data", "described"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200), "Windows program"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(200), "Linux program"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP archive"),
        (b"Hello, this is a plain text file.\nWith two lines.\n", "plain text"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        (b'<?xml version="1.0"?>\n<svg width="10" height="10"></svg>', "SVG"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML page"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", "unknown bytes starting 00 01 02"),
    ],
)
def test_it_refuses_what_is_not_an_image_or_video(data, described):
    with pytest.raises(MediaError, match=f"^not an image or video we accept: .*{described}"):
        probe(data)


def test_media_error_is_a_value_error():
    assert issubclass(MediaError, ValueError)


def test_allowed_mime_lists_what_we_store():
    assert ALLOWED_MIME == {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }


def valid_files():
    return {
        "png": image_bytes("PNG"),
        "gif": animation_bytes("GIF", [100, 200]),
        "webp": animation_bytes("WEBP", [100, 200]),
        "jpeg": image_bytes("JPEG"),
        "mp4": mp4(mvhd(600, 3000), box(b"trak", tkhd(0, 0)), video_trak()),
        "webm": webm(info(4500.0), element(0x1654AE6B, track(1, 1280, 720))),
    }


@pytest.mark.parametrize("name", ["png", "gif", "webp", "jpeg", "mp4", "webm"])
def test_damaged_files_give_a_media_info_or_a_media_error_and_nothing_else(name):
    data = valid_files()[name]
    rng = random.Random(name)
    damaged = [data[:cut] for cut in range(len(data))] if len(data) < 800 else []
    damaged += [data[: rng.randrange(len(data))] for _ in range(100)]
    for _ in range(300):
        corrupted = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
        damaged.append(bytes(corrupted))

    for sample in damaged:
        try:
            result = probe(sample)
        except MediaError:
            continue
        assert isinstance(result, MediaInfo)
