"""What a stored file is, decided from its own bytes and never from its name: type, pixel size and length.

Every image and video we keep goes through `probe`, whether Higgsfield made it, the local preview
rendered it or a person uploaded it. Containers are walked by hand with bounds checks (every box or
element must fit inside its parent, and every step moves forward), so a damaged or hostile file ends
in a MediaError, never in a Pillow exception, a read past the buffer or an endless loop.
"""

import codecs
import io
import math
import struct
from dataclasses import dataclass

from PIL import Image

# What we accept for storage. probe() also names Matroska (video/x-matroska) so the refusal can say
# what the file is; callers check `info.mime in ALLOWED_MIME`.
ALLOWED_MIME = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/webm", "video/quicktime"}
)

# Below Pillow's own MAX_IMAGE_PIXELS (about 89 megapixels): one decoded frame stays near 200 MB at most.
MAX_PIXELS = 50_000_000

REFUSAL = "not an image or video we accept"


class MediaError(ValueError):
    """The bytes are not an image or video we accept; the message says why and may be shown to the person."""


@dataclass(frozen=True)
class MediaInfo:
    mime: str
    kind: str  # "image", "video" or "other"
    extension: str  # without the dot: "jpg", "mp4"
    width: int | None  # as displayed: EXIF orientation and track rotation already applied
    height: int | None
    duration_ms: int | None  # videos and animated images only

    def attachment_fields(self) -> dict:
        """What an Attachment records of the file."""
        return {
            "kind": self.kind,
            "mime": self.mime,
            "width": self.width,
            "height": self.height,
            "duration_ms": self.duration_ms,
        }


def probe(data: bytes) -> MediaInfo:
    """Identify `data` by its magic numbers and measure it, or raise MediaError."""
    if not data:
        raise MediaError(f"{REFUSAL}: the file is empty")
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return _image(data, "JPEG", "image/jpeg", "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _image(data, "PNG", "image/png", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _image(data, "GIF", "image/gif", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _image(data, "WEBP", "image/webp", "webp")
    if head[4:8] == b"ftyp":
        return _iso_media(data)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _matroska(data)
    raise MediaError(f"{REFUSAL}: {_describe(head, data)}")


def _describe(head: bytes, data: bytes) -> str:
    """A few words on what a refused file looks like, so the message helps the person who sent it."""
    known = [
        (b"MZ", "a Windows program"),
        (b"\x7fELF", "a Linux program"),
        (b"\xcf\xfa\xed\xfe", "a macOS program"),
        (b"\xfe\xed\xfa\xcf", "a macOS program"),
        (b"\xca\xfe\xba\xbe", "a macOS program or Java class"),
        (b"%PDF-", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive or Office document"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"#!", "a script"),
    ]
    for magic, name in known:
        if head.startswith(magic):
            return name
    # The incremental decoder forgives a character cut at the end of the sample.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(bytes(data[:2048]))
    if "\ufffd" not in text and not any(ch < " " and ch not in "\t\r\n\f" for ch in text):
        lowered = text.lstrip("\ufeff \t\r\n").lower()
        if lowered.startswith("<?xml") or "<svg" in lowered:
            return "an SVG or XML document"
        if lowered.startswith(("<!doctype html", "<html")):
            return "an HTML page"
        return "plain text"
    return f"unknown bytes starting {head[:8].hex(' ')}"


# Images: Pillow reads the header and decodes the first frame; frame timings are read from the container.


def _image(data: bytes, pillow_format: str, mime: str, extension: str) -> MediaInfo:
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            width, height = image.size
            if width < 1 or height < 1:
                raise MediaError(f"{REFUSAL}: the {extension.upper()} image has no pixels")
            if width * height > MAX_PIXELS:
                raise MediaError(f"{REFUSAL}: the image is {width}x{height}, over {MAX_PIXELS // 1_000_000} megapixels")
            orientation = image.getexif().get(0x0112) if pillow_format == "JPEG" else None
            if pillow_format == "JPEG":
                # libjpeg still reads every byte at 1/8 scale, so a cut file is caught with a fraction of the memory.
                image.draft(None, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{REFUSAL}: the image is too large to open safely") from exc
    except Exception as exc:
        # Pillow's decoders raise many types on damaged input (OSError, SyntaxError, ValueError, EOFError...).
        # Its words stay on the chained exception, for the log; the message is for the person.
        raise MediaError(f"{REFUSAL}: the {extension.upper()} image is damaged or cut short") from exc
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn when shown
        width, height = height, width
    durations = []
    if pillow_format == "GIF":
        durations = _gif_frame_durations(data)
    elif pillow_format == "WEBP":
        durations = _webp_frame_durations(data)
    duration_ms = sum(durations) if len(durations) > 1 else None
    return MediaInfo(mime, "image", extension, width, height, duration_ms)


def _gif_frame_durations(data: bytes) -> list[int]:
    """Each frame's delay in ms, from the Graphic Control Extensions, without decoding any pixels."""

    def truncated():
        return MediaError(f"{REFUSAL}: the GIF image is cut short")

    def skip_sub_blocks(pos: int) -> int:
        while True:
            if pos >= len(data):
                raise truncated()
            length = data[pos]
            pos += 1 + length
            if length == 0:
                return pos

    if len(data) < 13:
        raise truncated()
    pos = 13
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    durations, delay = [], 0
    while pos < len(data):
        block = data[pos]
        pos += 1
        if block == 0x21:  # extension
            if pos >= len(data):
                raise truncated()
            label = data[pos]
            pos += 1
            if label == 0xF9 and pos + 4 < len(data) and data[pos] >= 4:
                delay = int.from_bytes(data[pos + 2 : pos + 4], "little") * 10
            pos = skip_sub_blocks(pos)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > len(data):
                raise truncated()
            flags = data[pos + 8]
            pos += 9
            if flags & 0x80:  # local colour table
                pos += 3 << ((flags & 7) + 1)
            pos = skip_sub_blocks(pos + 1)  # after the LZW minimum code size
            durations.append(delay)
            delay = 0
        else:  # the trailer (0x3B), or junk after the last frame that readers ignore as well
            break
    return durations


def _webp_frame_durations(data: bytes) -> list[int]:
    """Each ANMF frame's duration in ms (empty for a still WebP), walking the RIFF chunks with bounds checks."""
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < 12 or riff_end > len(data):
        raise MediaError(f"{REFUSAL}: the WEBP image is cut short")
    durations = []
    pos = 12
    while pos + 8 <= riff_end:
        fourcc = bytes(data[pos : pos + 4])
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        start, pos = pos + 8, pos + 8 + size + (size & 1)
        if start + size > riff_end:
            raise MediaError(f"{REFUSAL}: the WEBP image is cut short")
        if fourcc == b"ANMF" and size >= 16:
            durations.append(int.from_bytes(data[start + 12 : start + 15], "little"))
    return durations


# MP4 and MOV (ISO base media file format): a tree of boxes, each [size:u32][type:4cc][payload].

HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def _boxes(data: bytes, start: int, end: int):
    """Yield (type, payload_start, box_end) for the boxes in data[start:end], refusing any that does not fit."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise MediaError(f"{REFUSAL}: the video ends inside a box header")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if end - pos < 16:
                raise MediaError(f"{REFUSAL}: the video ends inside a box header")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - pos
        name = kind.decode("latin-1")
        if size < header:
            raise MediaError(f"{REFUSAL}: the video's {name!r} box has an impossible size ({size})")
        if size > end - pos:
            raise MediaError(f"{REFUSAL}: the video's {name!r} box runs past the end of the file (cut short?)")
        yield kind, pos + header, pos + size
        pos += size  # at least 8 bytes: the walk always ends


def _iso_media(data: bytes) -> MediaInfo:
    ftyp = moov = None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"ftyp" and ftyp is None:
            ftyp = (start, end)
        elif kind == b"moov" and moov is None:
            moov = (start, end)
    brand = bytes(data[ftyp[0] : ftyp[0] + 4]) if ftyp[1] - ftyp[0] >= 4 else b""
    if brand in HEIF_BRANDS:
        raise MediaError(f"{REFUSAL}: a HEIC or AVIF image (brand {brand.decode('latin-1')!r})")
    mime, extension = ("video/quicktime", "mov") if brand == b"qt  " else ("video/mp4", "mp4")
    if moov is None:
        raise MediaError(f"{REFUSAL}: the video has no index (moov box); it may be cut short")

    timescale = duration = fragment_duration = None
    size = None
    has_video = False
    for kind, start, end in _boxes(data, *moov):
        if kind == b"mvhd":
            timescale, duration = _mvhd(data, start, end)
        elif kind == b"mvex":
            for child, child_start, child_end in _boxes(data, start, end):
                if child == b"mehd":
                    fragment_duration = _full_box_number(data, child_start, child_end, offset_v0=4, offset_v1=4)
        elif kind == b"trak" and not has_video:
            has_video, size = _video_track(data, start, end)
    if not has_video:
        raise MediaError(f"{REFUSAL}: the file has no video track (audio only?)")
    if not duration and fragment_duration:  # fragmented files may leave mvhd's duration at 0
        duration = fragment_duration
    duration_ms = None
    if timescale and duration:
        duration_ms = (duration * 1000 + timescale // 2) // timescale
    width, height = size if size else (None, None)
    return MediaInfo(mime, "video", extension, width, height, duration_ms)


def _full_box_number(data: bytes, start: int, end: int, *, offset_v0: int, offset_v1: int) -> int | None:
    """A u32 (version 0) or u64 (version 1) field of a full box; None when unknown (all ones) or absent."""
    if end - start < 1:
        return None
    if data[start] == 1:
        if end - start < offset_v1 + 8:
            return None
        (value,) = struct.unpack_from(">Q", data, start + offset_v1)
        return None if value == 0xFFFF_FFFF_FFFF_FFFF else value
    if end - start < offset_v0 + 4:
        return None
    (value,) = struct.unpack_from(">I", data, start + offset_v0)
    return None if value == 0xFFFF_FFFF else value


def _mvhd(data: bytes, start: int, end: int) -> tuple[int | None, int | None]:
    # v0: version+flags, creation:u32, modification:u32, timescale:u32, duration:u32; v1 widens the times to u64.
    version = data[start] if end > start else 0
    timescale_at = 20 if version == 1 else 12
    if end - start < timescale_at + 4:
        raise MediaError(f"{REFUSAL}: the video's 'mvhd' box is cut short")
    (timescale,) = struct.unpack_from(">I", data, start + timescale_at)
    duration = _full_box_number(data, start, end, offset_v0=16, offset_v1=24)
    return timescale or None, duration


def _video_track(data: bytes, start: int, end: int) -> tuple[bool, tuple[int, int] | None]:
    """Whether this trak is video (its handler says 'vide', or it has no handler but a size), and its size."""
    size = handler = None
    for kind, child_start, child_end in _boxes(data, start, end):
        if kind == b"tkhd":
            size = _tkhd_size(data, child_start, child_end)
        elif kind == b"mdia":
            for child, hdlr_start, hdlr_end in _boxes(data, child_start, child_end):
                if child == b"hdlr" and hdlr_end - hdlr_start >= 12:
                    handler = bytes(data[hdlr_start + 8 : hdlr_start + 12])
    if handler is not None:
        return handler == b"vide", size
    return size is not None, size


def _tkhd_size(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    """Display width and height from a tkhd (16.16 fixed point), turned by its matrix; None for 0x0 (audio)."""
    version = data[start] if end > start else 0
    matrix_at = 52 if version == 1 else 40
    if end - start < matrix_at + 44:
        raise MediaError(f"{REFUSAL}: the video's 'tkhd' box is cut short")
    a, _, _, c, d = struct.unpack_from(">iiiii", data, start + matrix_at)
    raw_width, raw_height = struct.unpack_from(">II", data, start + matrix_at + 36)
    width, height = (raw_width + 0x8000) >> 16, (raw_height + 0x8000) >> 16
    if width == 0 or height == 0:
        return None
    if a == 0 and d == 0 and c != 0:  # a quarter turn, as phones record portrait video
        width, height = height, width
    return width, height


# WebM and Matroska (EBML): elements of [id:vint][size:vint][payload].

EBML, DOC_TYPE = 0x1A45DFA3, 0x4282
SEGMENT, INFO, TRACKS, CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675
TIMECODE_SCALE, DURATION = 0x2AD7B1, 0x4489
TRACK_ENTRY, TRACK_TYPE, VIDEO, PIXEL_WIDTH, PIXEL_HEIGHT = 0xAE, 0x83, 0xE0, 0xB0, 0xBA
TRACK_TYPE_VIDEO = 1


def _vint(data: bytes, pos: int, end: int, *, is_id: bool) -> tuple[int | None, int]:
    """An EBML variable-length integer at pos: (value, length). IDs keep their marker bit; an all-ones size is None."""
    if pos >= end:
        raise MediaError(f"{REFUSAL}: the video is cut short")
    first = data[pos]
    length = 9 - first.bit_length()
    if first == 0 or (is_id and length > 4):
        raise MediaError(f"{REFUSAL}: the video has a malformed element")
    if pos + length > end:
        raise MediaError(f"{REFUSAL}: the video is cut short")
    value = int.from_bytes(data[pos : pos + length], "big")
    if is_id:
        return value, length
    mask = (1 << (7 * length)) - 1
    value &= mask
    return (None if value == mask else value), length


def _elements(data: bytes, start: int, end: int):
    """Yield (id, payload_start, payload_end) in data[start:end]; an element of unknown size ends the walk with None."""
    pos = start
    while pos < end:
        element_id, id_length = _vint(data, pos, end, is_id=True)
        size, size_length = _vint(data, pos + id_length, end, is_id=False)
        pos += id_length + size_length
        if size is None:
            yield element_id, pos, None
            return
        if size > end - pos:
            raise MediaError(f"{REFUSAL}: the video's element {element_id:#x} runs past the end (cut short?)")
        yield element_id, pos, pos + size
        pos += size  # id and size take at least 2 bytes: the walk always ends


def _uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big") if 0 < end - start <= 8 else 0


def _matroska(data: bytes) -> MediaInfo:
    doc_type = "matroska"  # the spec's default when the header does not say
    segment = None
    for element_id, start, end in _elements(data, 0, len(data)):
        if element_id == EBML:
            if end is None:
                raise MediaError(f"{REFUSAL}: the video's EBML header has no size")
            for child, child_start, child_end in _elements(data, start, end):
                if child == DOC_TYPE and child_end is not None:
                    doc_type = bytes(data[child_start:child_end]).rstrip(b"\0").decode("ascii", "replace")
        elif element_id == SEGMENT:
            segment = (start, len(data) if end is None else end)  # live recordings leave the size unknown
            break
    if doc_type == "webm":
        mime, extension = "video/webm", "webm"
    elif doc_type == "matroska":
        mime, extension = "video/x-matroska", "mkv"
    else:
        raise MediaError(f"{REFUSAL}: an EBML file of type {doc_type!r}")
    if segment is None:
        raise MediaError(f"{REFUSAL}: the video has no Segment; it may be cut short")

    timecode_scale, duration, size = 1_000_000, None, None
    seen_info = seen_tracks = has_video = False
    for element_id, start, end in _elements(data, *segment):
        if end is None or (element_id == CLUSTER and seen_info and seen_tracks):
            break  # the rest is media data
        if element_id == INFO:
            seen_info = True
            for child, child_start, child_end in _elements(data, start, end):
                if child == TIMECODE_SCALE and child_end is not None:
                    timecode_scale = _uint(data, child_start, child_end) or 1_000_000
                elif child == DURATION and child_end is not None and child_end - child_start in (4, 8):
                    fmt = ">f" if child_end - child_start == 4 else ">d"
                    (duration,) = struct.unpack_from(fmt, data, child_start)
        elif element_id == TRACKS:
            seen_tracks = True
            for child, child_start, child_end in _elements(data, start, end):
                if child == TRACK_ENTRY and child_end is not None and not has_video:
                    has_video, size = _matroska_track(data, child_start, child_end)
    if seen_tracks and not has_video:
        raise MediaError(f"{REFUSAL}: the file has no video track (audio only?)")
    duration_ms = None
    if duration is not None and math.isfinite(duration) and duration >= 0:
        duration_ms = round(duration * timecode_scale / 1_000_000)
    width, height = size if size else (None, None)
    return MediaInfo(mime, "video", extension, width, height, duration_ms)


def _matroska_track(data: bytes, start: int, end: int) -> tuple[bool, tuple[int, int] | None]:
    is_video, width, height = False, None, None
    for element_id, child_start, child_end in _elements(data, start, end):
        if child_end is None:
            break
        if element_id == TRACK_TYPE:
            is_video = is_video or _uint(data, child_start, child_end) == TRACK_TYPE_VIDEO
        elif element_id == VIDEO:
            is_video = True
            for child, value_start, value_end in _elements(data, child_start, child_end):
                if child == PIXEL_WIDTH and value_end is not None:
                    width = _uint(data, value_start, value_end)
                elif child == PIXEL_HEIGHT and value_end is not None:
                    height = _uint(data, value_start, value_end)
    return is_video, ((width, height) if width and height else None)
