"""Importing the style and motion catalogues from JSON files, and switching entries on and off."""

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .higgsfield import HiggsfieldClient, HiggsfieldError
from .models import CatalogueEntry, CatalogueSync, Motion, Style

STYLES_FILE = "image_styles.json"
MOTIONS_FILE = "motions.json"
# Our dated snapshot of Higgsfield's full style and motion lists (see its README): what a fresh clone without keys
# loads, and all the tests read.
SNAPSHOT_DIR = Path(__file__).resolve().parent / "catalog"

_NAME_MAX = Style._meta.get_field("name").max_length
_PREVIEW_URL_MAX = Style._meta.get_field("preview_url").max_length
_is_http_url = URLValidator(schemes=["http", "https"])


class CatalogueError(Exception):
    """A catalogue file that is missing or malformed; the message names the file, the entry and the fault."""


@dataclass(frozen=True)
class CatalogueItem:
    id: uuid.UUID
    name: str
    description: str
    preview_url: str
    start_end_frame: bool = False


@dataclass(frozen=True)
class KindReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    disabled: int = 0

    def __str__(self):
        return f"{self.added} added, {self.changed} changed, {self.unchanged} unchanged, {self.disabled} disabled"


@dataclass(frozen=True)
class ImportReport:
    styles: KindReport
    motions: KindReport


def catalogue_read_dir(path) -> tuple[list[CatalogueItem], list[CatalogueItem]]:
    """Read and validate both files of a catalogue directory; raises CatalogueError before anything is written."""
    directory = Path(path)
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: not a directory")
    styles = _read_file(directory / STYLES_FILE, with_start_end_frame=False)
    motions = _read_file(directory / MOTIONS_FILE, with_start_end_frame=True)
    return styles, motions


@transaction.atomic
def catalogue_import(*, styles: list[CatalogueItem], motions: list[CatalogueItem]) -> ImportReport:
    """Make the database match the given lists: upsert by id, order as listed, disable whatever is not listed."""
    return ImportReport(
        styles=_sync(Style, styles, fields=["name", "description", "preview_url", "enabled", "sort_order"]),
        motions=_sync(
            Motion, motions, fields=["name", "description", "preview_url", "start_end_frame", "enabled", "sort_order"]
        ),
    )


def catalogue_sync_from_higgsfield() -> ImportReport:
    """Fetch both lists from Higgsfield and import them; recorded, so a first run knows it was done."""
    try:
        with HiggsfieldClient() as client:
            raw_styles, raw_motions = client.catalogue()
    except HiggsfieldError as exc:
        raise CatalogueError(str(exc)) from exc
    styles = catalogue_parse(raw_styles, source="Higgsfield styles", with_start_end_frame=False)
    motions = catalogue_parse(raw_motions, source="Higgsfield motions", with_start_end_frame=True)
    report = catalogue_import(styles=styles, motions=motions)
    CatalogueSync.objects.create(
        kind=CatalogueSync.Kind.STYLES_AND_MOTIONS, summary=f"styles: {report.styles}\nmotions: {report.motions}"
    )
    return report


def catalogue_set_enabled(*, entries: QuerySet, enabled: bool) -> int:
    """Enable or disable the given styles or motions; returns how many actually changed."""
    # bulk update() skips auto_now, so the timestamp is set here.
    return entries.exclude(enabled=enabled).update(enabled=enabled, updated_at=timezone.now())


def _read_file(file: Path, *, with_start_end_frame: bool) -> list[CatalogueItem]:
    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{file}: cannot read: {e}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CatalogueError(f"{file}: not valid JSON: {e}") from None
    return catalogue_parse(data, source=str(file), with_start_end_frame=with_start_end_frame)


def catalogue_parse(data, *, source: str, with_start_end_frame: bool) -> list[CatalogueItem]:
    """Check a list in Higgsfield's format (from a file or the API); raises CatalogueError naming `source`."""
    file = source
    if not isinstance(data, list):
        raise CatalogueError(f"{file}: expected a JSON list of entries, got {_json_type(data)}")

    items = []
    first_index_of = {}
    for index, entry in enumerate(data):
        try:
            item = _parse_entry(entry, with_start_end_frame=with_start_end_frame)
        except ValueError as e:
            raise CatalogueError(f"{file}: entry {index}: {e}") from None
        if item.id in first_index_of:
            raise CatalogueError(
                f"{file}: entry {index}: duplicate id {item.id} (also entry {first_index_of[item.id]})"
            )
        first_index_of[item.id] = index
        items.append(item)
    return items


def _parse_entry(entry, *, with_start_end_frame: bool) -> CatalogueItem:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {_json_type(entry)}")

    raw_id = _require(entry, "id", str)
    try:
        entry_id = uuid.UUID(raw_id)
    except ValueError:
        raise ValueError(f'"id" is not a valid UUID: {raw_id!r}') from None

    name = _require(entry, "name", str)
    if not name.strip():
        raise ValueError('"name" is empty')
    if len(name) > _NAME_MAX:
        raise ValueError(f'"name" is longer than {_NAME_MAX} characters')

    description = _require(entry, "description", str)

    preview_url = _require(entry, "preview_url", str)
    if preview_url:
        if len(preview_url) > _PREVIEW_URL_MAX:
            raise ValueError(f'"preview_url" is longer than {_PREVIEW_URL_MAX} characters')
        try:
            _is_http_url(preview_url)
        except ValidationError:
            raise ValueError(f'"preview_url" is not an http(s) URL: {preview_url!r}') from None

    start_end_frame = _require(entry, "start_end_frame", bool) if with_start_end_frame else False
    return CatalogueItem(
        id=entry_id, name=name, description=description, preview_url=preview_url, start_end_frame=start_end_frame
    )


def _require(entry: dict, key: str, kind: type):
    if key not in entry:
        raise ValueError(f'missing "{key}"')
    value = entry[key]
    if not isinstance(value, kind):
        raise ValueError(f'"{key}" must be {_JSON_NAMES[kind]}, got {_json_type(value)}')
    return value


_JSON_NAMES = {str: "a string", bool: "true or false", dict: "an object", list: "a list"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _sync(model: type[CatalogueEntry], items: list[CatalogueItem], *, fields: list[str]) -> KindReport:
    # One read of the whole table, then bulk writes: a few queries whatever the size of the catalogue.
    existing = {entry.pk: entry for entry in model.objects.all()}
    now = timezone.now()
    to_create, to_update = [], []
    unchanged = 0
    for position, item in enumerate(items):
        wanted = {
            "name": item.name,
            "description": item.description,
            "preview_url": item.preview_url,
            "start_end_frame": item.start_end_frame,
            "enabled": True,
            "sort_order": position,
        }
        wanted = {field: wanted[field] for field in fields}
        entry = existing.pop(item.id, None)
        if entry is None:
            to_create.append(model(id=item.id, **wanted))
        elif any(getattr(entry, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(entry, field, value)
            entry.updated_at = now
            to_update.append(entry)
        else:
            unchanged += 1

    # Entries that left the catalogue are kept, not deleted: chats and generations may still refer to them.
    to_disable = [pk for pk, entry in existing.items() if entry.enabled]

    model.objects.bulk_create(to_create)
    model.objects.bulk_update(to_update, [*fields, "updated_at"])
    disabled = model.objects.filter(pk__in=to_disable).update(enabled=False, updated_at=now) if to_disable else 0
    return KindReport(added=len(to_create), changed=len(to_update), unchanged=unchanged, disabled=disabled)
