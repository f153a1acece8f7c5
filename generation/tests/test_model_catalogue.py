"""The models we offer are Higgsfield's own: our snapshot is derived from its published schemas, every request
we build is one Higgsfield accepts (checked by the strict fake), and sync_models follows its published spec."""

import json
import uuid

import pytest
from django.core.management import call_command

from generation.model_catalogue import SNAPSHOT, model_resolve, models_sync
from generation.model_schema import parameters_schema, schema_from_params
from generation.models import Generation, GenerationModel, Motion, Style
from generation.tests.conftest import finish, photo_options, start
from generation.tests.higgsfield_spec import load_models, openapi_document

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISHED = {m["id"]: m for m in load_models()}
CLIENT_NAMES = [
    "nano-banana",
    "seedream",
    "kling-2-5",
    "seedance",
    "wan-25-fast",
    "minimax",
    "minimax-t2v",
    "seedance-v1-lite-t2v",
]
SPEC_DIR_IMAGE = "https://cdn.example.com/photo.png"


@pytest.fixture(autouse=True)
def external_image_host(settings):
    """SPEC_DIR_IMAGE's host stands for a public one: there is no DNS here to say so, so it is allowed by name."""
    settings.OUTBOUND_ALLOW_HOSTS = [*settings.OUTBOUND_ALLOW_HOSTS, "cdn.example.com"]


def _offered():
    return list(GenerationModel.objects.filter(enabled=True).order_by("sort_order"))


# --- The snapshot is Higgsfield's facts ---


def test_the_snapshot_holds_every_published_model_with_the_published_schema():
    snapshot = json.loads(SNAPSHOT.read_text())["models"]
    assert {m["provider_id"] for m in snapshot} == set(PUBLISHED)
    for entry in snapshot:
        published = PUBLISHED[entry["provider_id"]]
        assert entry["path"] == published["path"]
        assert entry["schema"] == schema_from_params(published["params"]), entry["name"]


def test_a_fresh_database_offers_the_models_the_product_promises():
    offered = _offered()
    by_mode = {mode: [m for m in offered if m.mode == mode] for mode in GenerationModel.Mode.values}
    assert len(by_mode["text_to_image"]) >= 3
    assert len(by_mode["image_to_video"]) >= 5
    assert len(by_mode["text_to_video"]) >= 3
    families = {m.provider_id for m in offered}
    for wanted in [
        "soul/standard",
        "nano-banana",
        "dop/standard",
        "kling-video/v2.5-turbo/pro/image-to-video",
        "bytedance/seedance/v1/pro/fast/image-to-video",
        "minimax/hailuo-02/standard/image-to-video",
        "sora-2/image-to-video",
        "veo3.1/image-to-video",
        "wan-25-preview/image-to-video",
    ]:
        assert wanted in families


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_every_name_existing_clients_send_means_a_published_model(name):
    resolved = model_resolve(name=name)
    assert resolved is not None
    assert resolved.model.provider_id in PUBLISHED
    if name == "seedream":
        assert "not in Higgsfield's published API" in resolved.note


# --- The API's list and its checks ---


def test_the_models_list_gives_each_offered_model_its_settings_schema(anon_api):
    response = anon_api.get("/api/higgsfield/models")
    assert response.status_code == 200
    listed = {m["name"]: m for m in response.json()}
    assert set(listed) == {m.name for m in _offered()}
    kling = listed["kling-2-5"]
    assert kling["mode"] == "image-to-video"
    assert kling["credits"] == 5
    assert kling["parameters"]["properties"]["duration"] == {"type": "integer", "enum": [5, 10], "default": 5}
    assert "prompt" not in kling["parameters"]["properties"]
    assert listed["veo-3-1-t2v"]["parameters"]["properties"]["duration"]["enum"] == ["4", "6", "8"]


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"aspect_ratio": "7:3"}, "aspect_ratio must be one of 1:1, 4:3"),
        ({"num_images": 9}, "num_images must be a whole number from 1 to 4; got 9"),
        ({"resolution": "720p"}, "resolution must be one of 2K, 4K"),
        ({"style_id": str(uuid.uuid4())}, "Soul cannot take style_id"),
        ({"quality": "high"}, "Soul cannot take quality"),
    ],
)
def test_a_wrong_setting_is_refused_naming_it_before_any_credit_is_spent(alice_api, alice, parameters, words):
    from generation.credits import credits_balance

    response = alice_api.post(
        "/api/generations",
        {"mode": "text-to-image", "model_name": "soul", "prompt": "a lake", "parameters": parameters},
    )
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert credits_balance(user=alice) == 100
    assert not Generation.objects.exists()


def test_the_flat_fields_of_the_contract_still_work_respelled_or_left_out_with_a_note(alice_api):
    response = alice_api.post(
        "/api/generations",
        {
            "mode": "text-to-video",
            "model_name": "seedance-v1-lite-t2v",
            "prompt": "a fox in the snow",
            "resolution": "480p",
            "aspect_ratio": "9:16",
            "duration": 10,
            "seed": 1,
        },
    )
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["parameters"] == {"resolution": "480", "aspect_ratio": "9:16", "duration": 10}
    assert any("no seed setting" in note for note in job["notes"])


def test_seedream_with_its_quality_goes_to_its_stand_in_and_says_so(alice_api):
    response = alice_api.post(
        "/api/generations",
        {"mode": "text-to-image", "model_name": "seedream", "prompt": "a lake", "quality": "basic"},
    )
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["model_key"] == "flux-kontext"
    assert any("Flux Kontext Max made it instead" in note for note in job["notes"])
    assert any("quality" in note for note in job["notes"])


# --- Every offered model, through our client, against the strict fake ---


def _variants(model: GenerationModel) -> list[dict]:
    """The defaults, then each enum setting at each value it has besides its default."""
    variants = [{}]
    for name, prop in parameters_schema(model.input_schema)["properties"].items():
        for value in prop.get("enum", []):
            if value != prop.get("default"):
                variants.append({name: value})
    return variants


@pytest.mark.parametrize("name", [m["name"] for m in json.loads(SNAPSHOT.read_text())["models"] if m["enabled"]])
def test_every_offered_model_generates_on_its_defaults_and_every_enum_value(
    name, higgsfield, alice_api, alice, run_worker, settings
):
    settings.CREDITS_START = 10_000
    model = GenerationModel.objects.get(name=name)
    needs_image = model.mode == "image_to_video" or name == "soul-reference"
    for index, parameters in enumerate(_variants(model)):
        payload = {
            "mode": model.mode.replace("_", "-"),
            "model_name": name,
            "prompt": f"a lighthouse at dusk, take {index}",
            "parameters": parameters,
        }
        if needs_image:
            payload["image_url"] = SPEC_DIR_IMAGE
        job = finish(run_worker, start(alice_api, **payload))
        assert job.status == "completed", (parameters, job.error, higgsfield.rejections)
    assert higgsfield.rejections == []
    assert len(higgsfield.submissions) == len(_variants(model))
    assert {s.model_id for s in higgsfield.submissions} == {model.path.strip("/")}


# --- Styles and motions reach the result ---


@pytest.fixture
def catalogue(db):
    style = Style.objects.create(
        id=uuid.UUID("a78cc5f9-7cef-489c-a3c4-66078a6103a3"), name="Noir", description="Black and white, hard light."
    )
    orbit = Motion.objects.create(id=uuid.uuid4(), name="360 Orbit", description="Circles the subject.")
    crane = Motion.objects.create(id=uuid.uuid4(), name="Crane Up", description="Rises above the scene.")
    return style, orbit, crane


def test_soul_without_a_reference_image_gets_the_style_written_into_its_prompt(
    higgsfield, alice_api, run_worker, catalogue
):
    style, _, _ = catalogue
    job = finish(
        run_worker,
        start(alice_api, mode="text-to-image", model_name="soul", prompt="a harbour", style_id=str(style.id)),
    )
    sent = higgsfield.submissions[0]
    assert sent.model_id == "higgsfield-ai/soul/standard"
    assert "style_id" not in sent.body
    assert sent.body["prompt"].startswith("a harbour Style: Noir, black and white, hard light.")
    assert any("written into the prompt" in note for note in job.notes)


def test_soul_with_a_reference_image_sends_the_style_id_to_soul_reference(higgsfield, alice_api, run_worker, catalogue):
    style, _, _ = catalogue
    job = finish(
        run_worker,
        start(
            alice_api,
            mode="text-to-image",
            model_name="soul",
            prompt="a harbour",
            style_id=str(style.id),
            image_url=SPEC_DIR_IMAGE,
            style_strength=0.6,
        ),
    )
    assert job.status == "completed", higgsfield.rejections
    sent = higgsfield.submissions[0]
    assert sent.model_id == "higgsfield-ai/soul/reference"
    assert sent.body["style_id"] == str(style.id)
    assert sent.body["style_strength"] == 0.6
    assert sent.body["image_reference_url"] == SPEC_DIR_IMAGE
    assert job.model_key == "soul-reference"
    assert any("Soul Reference made it" in note for note in job.notes)


def test_another_image_model_gets_the_style_in_its_prompt(higgsfield, alice_api, run_worker, catalogue):
    style, _, _ = catalogue
    job = finish(
        run_worker,
        start(alice_api, mode="text-to-image", model_name="nano-banana", prompt="a harbour", style_id=str(style.id)),
    )
    assert job.status == "completed"
    assert "Style: Noir" in higgsfield.submissions[0].body["prompt"]
    assert "style_id" not in higgsfield.submissions[0].body


def test_dop_gets_two_motion_presets_by_id(higgsfield, alice_api, run_worker, catalogue):
    _, orbit, crane = catalogue
    job = finish(
        run_worker,
        start(
            alice_api,
            mode="image-to-video",
            model_name="dop",
            prompt="a harbour",
            image_url=SPEC_DIR_IMAGE,
            motion_ids=[str(orbit.id), str(crane.id)],
            motion_strength=0.8,
        ),
    )
    assert job.status == "completed", higgsfield.rejections
    body = higgsfield.submissions[0].body
    assert body["motions"] == [{"id": str(orbit.id), "strength": 0.8}, {"id": str(crane.id), "strength": 0.8}]
    assert "Camera:" not in body["prompt"]
    assert sum("as a motion preset" in note for note in job.notes) == 2


def test_another_video_model_gets_the_camera_move_in_its_prompt(higgsfield, alice_api, run_worker, catalogue):
    _, orbit, _ = catalogue
    job = finish(
        run_worker,
        start(
            alice_api,
            mode="image-to-video",
            model_name="kling-2-5",
            prompt="a harbour",
            image_url=SPEC_DIR_IMAGE,
            motion_id=str(orbit.id),
        ),
    )
    assert job.status == "completed", higgsfield.rejections
    body = higgsfield.submissions[0].body
    assert "motions" not in body
    assert "Camera: 360 Orbit, circles the subject." in body["prompt"]
    assert any("written into the prompt" in note for note in job.notes)


def test_three_motions_are_refused(alice_api, catalogue):
    _, orbit, crane = catalogue
    response = alice_api.post(
        "/api/generations",
        {
            "mode": "image-to-video",
            "model_name": "dop",
            "prompt": "x",
            "image_url": SPEC_DIR_IMAGE,
            "motion_ids": [str(orbit.id), str(crane.id), str(uuid.uuid4())],
        },
    )
    assert response.status_code == 422


# --- sync_models follows the published spec ---


def test_sync_models_against_the_unchanged_spec_changes_nothing(higgsfield, settings, capsys):
    settings.HIGGSFIELD_OPENAPI_URL = f"{higgsfield.url}/docs/openapi.json"
    call_command("sync_models")
    out = capsys.readouterr().out
    assert "added (switched off until staff enable them): none" in out
    assert "changed: none" in out
    assert "unchanged: 48" in out


def test_sync_models_adds_changes_and_retires_what_the_spec_says(
    higgsfield, settings, capsys, alice_api, run_worker, option
):
    # A job on Kling 2.5 Turbo makes it in use.
    higgsfield_models = higgsfield.models
    job = finish(run_worker, start(alice_api, option, mode="text-to-image", model_name="soul"))
    assert job.status == "completed"
    kling = next(m for m in higgsfield_models if m["id"] == "kling-video/v2.5-turbo/pro/image-to-video")
    Generation.objects.filter(pk=job.pk).update(model_key="kling-2-5")
    reve = next(m for m in higgsfield_models if m["id"] == "reve/fast/edit")
    new = json.loads(json.dumps(next(m for m in higgsfield_models if m["id"] == "sora-2/text-to-video")))
    new["id"] = new["path"] = "sora-3/text-to-video"
    new["path"] = "/sora-3/text-to-video"
    soul = next(m for m in higgsfield_models if m["id"] == "soul/standard")
    next(p for p in soul["params"] if p["name"] == "resolution")["enum"] = ["2K", "4K", "8K"]
    higgsfield.models = [m for m in higgsfield_models if m not in (kling, reve)] + [new]

    settings.HIGGSFIELD_OPENAPI_URL = f"{higgsfield.url}/docs/openapi.json"
    call_command("sync_models")
    out = capsys.readouterr().out

    added = GenerationModel.objects.get(provider_id="sora-3/text-to-video")
    assert added.enabled is False and added.mode == "text_to_video"
    assert f"added (switched off until staff enable them): {added.name}" in out
    assert "changed: soul" in out
    assert GenerationModel.objects.get(name="soul").input_schema["properties"]["resolution"]["enum"][-1] == "8K"
    retired = GenerationModel.objects.get(name="kling-2-5")
    assert retired.retired and not retired.enabled
    assert "retired and disabled (still referred to): kling-2-5" in out
    assert not GenerationModel.objects.filter(provider_id="reve/fast/edit").exists()


def test_sync_models_reads_a_spec_file_too(tmp_path, capsys):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi_document(load_models())))
    call_command("sync_models", file=str(spec))
    assert "unchanged: 48" in capsys.readouterr().out


def test_sync_models_refuses_a_document_that_is_not_a_spec_and_changes_nothing(tmp_path):
    from django.core.management.base import CommandError

    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps({"info": {}}))
    before = list(GenerationModel.objects.values_list("name", "enabled"))
    with pytest.raises(CommandError, match="no paths"):
        call_command("sync_models", file=str(spec))
    assert list(GenerationModel.objects.values_list("name", "enabled")) == before


def test_models_sync_is_a_service_the_admin_could_call_too():
    report = models_sync(spec=openapi_document(load_models()))
    assert report.unchanged == 48 and not report.added


# --- Every option the recommender offers generates, its style or motion carried ---


def _carried(job, sent) -> bool:
    """The option's style or motion reached Higgsfield: by id where the model takes one, else by name."""
    if job.style_id:
        style = Style.objects.get(pk=job.style_id)
        return sent.body.get("style_id") == str(style.pk) or f"Style: {style.name}" in sent.body["prompt"]
    motion = Motion.objects.get(pk=job.motion_id)
    ids = [m["id"] for m in sent.body.get("motions", [])]
    return str(motion.pk) in ids or f"Camera: {motion.name}" in sent.body["prompt"]


def test_every_option_for_an_image_idea_generates_with_its_style(higgsfield, alice_api, seed_catalogue, run_worker):
    chat = alice_api.post("/api/chats", {"title": None}).json()
    reply = alice_api.post(f"/api/chats/{chat['id']}/messages", {"text": "a cinematic sunset over mountains"}).json()[
        "message"
    ]
    options = alice_api.get(f"/api/messages/{reply['id']}/options").json()
    assert len(options) >= 2
    for number, option in enumerate(options):
        job = finish(run_worker, start(alice_api, option_id=option["id"]))
        assert job.status == "completed", (option["model_key"], job.error, higgsfield.rejections)
        assert _carried(job, higgsfield.submissions[number]), option["model_key"]
    assert higgsfield.rejections == []


def test_every_option_for_a_photo_to_animate_generates_with_its_motion(
    higgsfield, alice_api, seed_catalogue, run_worker
):
    from generation.tests.test_image_to_video_uploads import image_bytes

    options, _ticket = photo_options(alice_api, image_bytes(), "make my photo orbit like a music video")
    assert len(options) >= 2
    for number, option in enumerate(options):
        job = finish(run_worker, start(alice_api, option_id=option["id"]))
        assert job.status == "completed", (option["model_key"], job.error, higgsfield.rejections)
        assert _carried(job, higgsfield.submissions[number]), option["model_key"]
    assert any(s.body.get("motions") for s in higgsfield.submissions), "DoP, which takes motion ids, is offered"
    assert higgsfield.rejections == []


def test_the_blocking_generate_checks_parameters_too(alice_api, option):
    response = alice_api.post(
        "/api/higgsfield/generate",
        {"option_id": str(option.id), "mode": "text-to-image", "model_name": "soul", "parameters": {"num_images": 5}},
    )
    assert response.status_code == 422
    assert "num_images must be a whole number from 1 to 4; got 5" in response.json()["detail"]
    assert not Generation.objects.exists()


def test_a_refused_number_names_its_bounds_as_a_person_writes_them():
    from generation.model_schema import ParameterError, parameters_check

    schema = parameters_schema(model_resolve(name="flux-kontext").model.input_schema)
    with pytest.raises(ParameterError) as refused:
        parameters_check(schema, {"seed": 0}, label="Flux Kontext Max")
    assert "a whole number from 1 to 1000000" in str(refused.value)
