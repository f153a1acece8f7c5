"""Tests for the catalogue import service and the import_catalog command."""

import json
import re
import shutil
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from generation.catalogue import SNAPSHOT_DIR, CatalogueError, catalogue_import, catalogue_read_dir
from generation.models import Motion, Style
from generation.selectors import motion_list, style_list


def run_import(directory=None, *args):
    out = StringIO()
    call_command("import_catalog", *([str(directory)] if directory else []), *args, stdout=out)
    return out.getvalue()


def database_snapshot():
    return (
        list(Style.objects.order_by("pk").values()),
        list(Motion.objects.order_by("pk").values()),
    )


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def snapshot_copy(tmp_path):
    """A writable copy of our catalogue snapshot, for tests that change it."""
    for name in ("image_styles.json", "motions.json"):
        shutil.copy(SNAPSHOT_DIR / name, tmp_path / name)
    return tmp_path


def write_minimal_catalogue(directory, *, styles=None, motions=None):
    style = {"id": str(uuid.uuid4()), "name": "A style", "description": "", "preview_url": ""}
    motion = {
        "id": str(uuid.uuid4()),
        "name": "A motion",
        "description": "",
        "preview_url": "",
        "start_end_frame": True,
    }
    write_json(directory / "image_styles.json", [style] if styles is None else styles)
    write_json(directory / "motions.json", [motion] if motions is None else motions)


# Importing the catalogue snapshot (all of Higgsfield's styles and motions)


@pytest.mark.django_db
def test_importing_the_snapshot_gives_106_styles_and_121_motions():
    output = run_import(SNAPSHOT_DIR)

    assert Style.objects.count() == 106
    assert Motion.objects.count() == 121
    assert Motion.objects.filter(start_end_frame=True).count() == 106
    assert not Style.objects.filter(enabled=False).exists()
    assert not Motion.objects.filter(enabled=False).exists()
    assert "styles: 106 added, 0 changed, 0 unchanged, 0 disabled" in output
    assert "motions: 121 added, 0 changed, 0 unchanged, 0 disabled" in output


@pytest.mark.django_db
def test_it_keeps_the_order_and_the_fields_of_the_files():
    run_import(SNAPSHOT_DIR)

    raw_motions = read_json(SNAPSHOT_DIR / "motions.json")
    motions = list(Motion.objects.order_by("sort_order"))
    assert [str(m.id) for m in motions] == [entry["id"] for entry in raw_motions]
    assert [m.sort_order for m in motions] == list(range(121))
    first = raw_motions[0]
    assert (motions[0].name, motions[0].description, motions[0].preview_url, motions[0].start_end_frame) == (
        first["name"],
        first["description"],
        first["preview_url"],
        first["start_end_frame"],
    )


@pytest.mark.django_db
def test_importing_227_entries_takes_a_handful_of_queries(django_assert_max_num_queries):
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)

    with django_assert_max_num_queries(12):
        catalogue_import(styles=styles, motions=motions)
    with django_assert_max_num_queries(6):
        catalogue_import(styles=styles, motions=motions)


@pytest.mark.django_db
def test_a_second_import_reports_nothing_added_or_changed():
    run_import(SNAPSHOT_DIR)
    before = database_snapshot()

    output = run_import(SNAPSHOT_DIR)

    assert "styles: 0 added, 0 changed, 106 unchanged, 0 disabled" in output
    assert "motions: 0 added, 0 changed, 121 unchanged, 0 disabled" in output
    assert database_snapshot() == before


@pytest.mark.django_db
def test_a_changed_name_is_reported_as_changed_and_updated(snapshot_copy):
    run_import(snapshot_copy)
    styles = read_json(snapshot_copy / "image_styles.json")
    styles[3]["name"] = "Renamed upstream"
    write_json(snapshot_copy / "image_styles.json", styles)

    output = run_import(snapshot_copy)

    assert "styles: 0 added, 1 changed, 105 unchanged, 0 disabled" in output
    assert "motions: 0 added, 0 changed, 121 unchanged, 0 disabled" in output
    assert Style.objects.get(pk=styles[3]["id"]).name == "Renamed upstream"


@pytest.mark.django_db
def test_a_changed_start_end_frame_is_reported_as_changed_and_updated(snapshot_copy):
    run_import(snapshot_copy)
    motions = read_json(snapshot_copy / "motions.json")
    motions[0]["start_end_frame"] = not motions[0]["start_end_frame"]
    write_json(snapshot_copy / "motions.json", motions)

    output = run_import(snapshot_copy)

    assert "motions: 0 added, 1 changed, 120 unchanged, 0 disabled" in output
    assert Motion.objects.get(pk=motions[0]["id"]).start_end_frame is motions[0]["start_end_frame"]


@pytest.mark.django_db
def test_an_entry_missing_from_the_file_is_disabled_and_reported(snapshot_copy):
    run_import(snapshot_copy)
    motions = read_json(snapshot_copy / "motions.json")
    gone = motions.pop(5)
    write_json(snapshot_copy / "motions.json", motions)

    output = run_import(snapshot_copy)

    # The entries after the removed one move up a place, so their sort_order changes.
    assert f"motions: 0 added, {121 - 1 - 5} changed, 5 unchanged, 1 disabled" in output
    assert Motion.objects.get(pk=gone["id"]).enabled is False
    assert motion_list().count() == 120
    assert motion_list(enabled_only=False).count() == 121
    # Already disabled, so a second run has nothing left to disable.
    assert "motions: 0 added, 0 changed, 120 unchanged, 0 disabled" in run_import(snapshot_copy)


@pytest.mark.django_db
def test_an_entry_back_in_the_file_is_enabled_again(tmp_path):
    style = {"id": str(uuid.uuid4()), "name": "Comeback", "description": "", "preview_url": ""}
    write_minimal_catalogue(tmp_path, styles=[style])
    run_import(tmp_path)
    write_minimal_catalogue(tmp_path, styles=[])
    run_import(tmp_path)
    assert Style.objects.get(pk=style["id"]).enabled is False

    write_minimal_catalogue(tmp_path, styles=[style])
    output = run_import(tmp_path)

    assert "styles: 0 added, 1 changed, 0 unchanged, 0 disabled" in output
    assert Style.objects.get(pk=style["id"]).enabled is True


# Bad files


def break_not_json(directory):
    (directory / "motions.json").write_text("[{not json", encoding="utf-8")
    return "motions.json", "not valid JSON"


def break_not_a_list(directory):
    write_json(directory / "image_styles.json", {"styles": []})
    return "image_styles.json", "expected a JSON list"


def break_missing_id(directory):
    motions = read_json(directory / "motions.json")
    del motions[7]["id"]
    write_json(directory / "motions.json", motions)
    return "motions.json", 'entry 7: missing "id"'


def break_duplicate_id(directory):
    styles = read_json(directory / "image_styles.json")
    styles[9]["id"] = styles[2]["id"]
    write_json(directory / "image_styles.json", styles)
    return "image_styles.json", "entry 9: duplicate id"


def break_bad_uuid(directory):
    styles = read_json(directory / "image_styles.json")
    styles[4]["id"] = "not-a-uuid"
    write_json(directory / "image_styles.json", styles)
    return "image_styles.json", 'entry 4: "id" is not a valid UUID'


def break_missing_file(directory):
    (directory / "motions.json").unlink()
    return "motions.json", "file not found"


def break_empty_name(directory):
    motions = read_json(directory / "motions.json")
    motions[1]["name"] = "  "
    write_json(directory / "motions.json", motions)
    return "motions.json", 'entry 1: "name" is empty'


def break_start_end_frame_not_a_bool(directory):
    motions = read_json(directory / "motions.json")
    motions[2]["start_end_frame"] = "yes"
    write_json(directory / "motions.json", motions)
    return "motions.json", 'entry 2: "start_end_frame" must be true or false'


def break_preview_url_not_http(directory):
    styles = read_json(directory / "image_styles.json")
    styles[0]["preview_url"] = "javascript:alert(1)"
    write_json(directory / "image_styles.json", styles)
    return "image_styles.json", 'entry 0: "preview_url" is not an http(s) URL'


def break_entry_not_an_object(directory):
    motions = read_json(directory / "motions.json")
    motions[3] = "360 Orbit"
    write_json(directory / "motions.json", motions)
    return "motions.json", "entry 3: expected an object, got a string"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "break_files",
    [
        break_not_json,
        break_not_a_list,
        break_missing_id,
        break_duplicate_id,
        break_bad_uuid,
        break_missing_file,
        break_empty_name,
        break_start_end_frame_not_a_bool,
        break_preview_url_not_http,
        break_entry_not_an_object,
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error_and_changes_nothing(snapshot_copy, break_files):
    run_import(snapshot_copy)
    # Valid changes in both files, so that a partial write would show in the snapshot.
    for name in ("image_styles.json", "motions.json"):
        entries = read_json(snapshot_copy / name)
        entries[0]["name"] = "Changed but never saved"
        write_json(snapshot_copy / name, entries[1:] + entries[:1])
    before = database_snapshot()
    file_name, fault = break_files(snapshot_copy)

    with pytest.raises(CommandError) as error:
        run_import(snapshot_copy)

    message = str(error.value)
    assert file_name in message
    assert fault in message
    assert "\n" not in message
    assert database_snapshot() == before


def test_reading_a_bad_file_raises_catalogue_error_naming_file_entry_and_fault(tmp_path):
    write_minimal_catalogue(
        tmp_path, motions=[{"id": str(uuid.uuid4()), "name": "No flag", "description": "", "preview_url": ""}]
    )

    with pytest.raises(CatalogueError, match=r'motions\.json: entry 0: missing "start_end_frame"'):
        catalogue_read_dir(tmp_path)


def test_a_missing_description_is_refused(tmp_path):
    write_minimal_catalogue(tmp_path, styles=[{"id": str(uuid.uuid4()), "name": "Terse", "preview_url": ""}])

    with pytest.raises(CatalogueError, match=r'image_styles\.json: entry 0: missing "description"'):
        catalogue_read_dir(tmp_path)


@pytest.mark.django_db
def test_the_command_wants_a_directory_or_starter():
    with pytest.raises(CommandError, match="either a directory or --starter"):
        run_import()
    with pytest.raises(CommandError, match="either a directory or --starter"):
        run_import(SNAPSHOT_DIR, "--starter")


# The snapshot we ship (--starter, and what the tests read)


@pytest.mark.django_db
def test_starter_loads_the_whole_snapshot():
    output = run_import(None, "--starter")

    assert style_list().count() == 106
    assert motion_list().count() == 121
    assert "styles: 106 added, 0 changed, 0 unchanged, 0 disabled" in output
    assert "motions: 121 added, 0 changed, 0 unchanged, 0 disabled" in output
    assert Motion.objects.filter(start_end_frame=True).count() == 106
    assert not Style.objects.filter(description="").exists()
    assert not Motion.objects.filter(description="").exists()


@pytest.mark.django_db
def test_if_empty_skips_a_second_time():
    run_import(None, "--starter", "--if-empty")
    before = database_snapshot()

    output = run_import(None, "--starter", "--if-empty")

    assert "nothing imported" in output
    assert database_snapshot() == before


@pytest.mark.django_db
def test_if_empty_skips_when_only_a_disabled_entry_exists(tmp_path):
    Motion.objects.create(id=uuid.uuid4(), name="Left over", enabled=False)

    output = run_import(None, "--starter", "--if-empty")

    assert "nothing imported" in output
    assert not Style.objects.exists()


def test_the_snapshot_keeps_higgsfields_names_and_preview_urls_as_published():
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)

    style_names = [item.name for item in styles]
    motion_names = [item.name for item in motions]
    # Messy on purpose, as Higgsfield publishes them; within a list every name is distinct.
    assert {"7\\", "It’s french", "Help It's Too Big", "dmv"} <= set(style_names)
    assert len({name.casefold() for name in style_names}) == len(style_names)
    assert len({name.casefold() for name in motion_names}) == len(motion_names)
    assert set(style_names) & set(motion_names) == {"Angel Wings", "Duplicate", "Fisheye", "General"}
    assert all(item.preview_url.startswith("https://cdn.higgsfield.ai/soul-style/") for item in styles)
    assert all(item.preview_url.startswith("https://d1xarpci4ikg0w.cloudfront.net/") for item in motions)


def test_every_snapshot_description_is_a_short_one_of_our_own_that_a_prompt_can_use():
    styles, motions = catalogue_read_dir(SNAPSHOT_DIR)

    for item in styles + motions:
        sentences = re.split(r"(?<=[.!?])\s+", item.description.strip())
        assert 1 <= len(sentences) <= 2, item.name
        assert 15 <= len(item.description.split()) <= 45, item.name
        # The recommender leaves out sentences that sell ("Perfect for…") or speak to the person ("your fit"):
        # ours only describe the look or the move.
        assert not re.search(r"\b(you|your|you're)\b", item.description, re.IGNORECASE), item.name
        assert not any(re.match(r"(perfect|great|ideal)\b", s, re.IGNORECASE) for s in sentences), item.name


@pytest.mark.django_db
def test_a_directory_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        run_import(tmp_path / "nowhere")
