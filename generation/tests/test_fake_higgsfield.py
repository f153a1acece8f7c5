"""The fake Higgsfield platform, proven over loopback with httpx and a webhook receiver of our own."""

import asyncio
import copy
import http.client
import json
import struct
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import httpx
import pytest
from jsonschema import Draft202012Validator
from PIL import Image

from generation.tests import higgsfield_spec
from generation.tests.fake_higgsfield import FakeHiggsfield, Outcome, is_video_model, mp4_bytes, png_bytes
from generation.tests.higgsfield_spec import (
    ITEM_SCHEMAS,
    load_models,
    model_path,
    openapi_document,
    request_schema,
    request_schemas,
    request_schemas_from_openapi,
)

SOUL = "higgsfield-ai/soul/standard"
KLING = "kling-video/v2.5-turbo/pro/image-to-video"
DOP = "higgsfield-ai/dop/standard"
VEO = "veo3.1/image-to-video"
IMAGE_URL = "https://example.com/a.png"
PROMPT = {"prompt": "a rainy street"}
AGENT = {"User-Agent": "higgs-tests/1.0"}
MODELS = load_models()


@pytest.fixture
def server():
    with FakeHiggsfield() as fake:
        yield fake


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as http:
        yield http


def submit(client, model_id=SOUL, body=None, webhook=None):
    params = {"hf_webhook": webhook} if webhook else None
    response = client.post(f"/{model_id}", json=body or {"prompt": "a rainy street"}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post(client, body=None, key=None, webhook=None, model_id=SOUL):
    """A submission's raw answer, with an Idempotency-Key when `key` is given."""
    params = {"hf_webhook": webhook} if webhook else None
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post(f"/{model_id}", json=PROMPT if body is None else body, params=params, headers=headers)


def status_of(client, request_id):
    response = client.get(f"/requests/{request_id}/status")
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(moment):
    time.sleep(max(0.0, moment - time.monotonic()))


def boxes(data, start=0, end=None):
    """The MP4 boxes in data[start:end] as {type: (payload start, payload end)}."""
    found = {}
    end = len(data) if end is None else end
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        found[kind.decode()] = (start + 8, start + size)
        start += size
    return found


def mp4_facts(data):
    top = boxes(data)
    moov = boxes(data, *top["moov"])
    mvhd_start, _ = moov["mvhd"]
    timescale, duration = struct.unpack_from(">II", data, mvhd_start + 12)
    tkhd_start, tkhd_end = boxes(data, *moov["trak"])["tkhd"]
    width, height = struct.unpack_from(">II", data, tkhd_end - 8)
    return {
        "boxes": list(top),
        "seconds": duration / timescale,
        "timescale": timescale,
        "width": width / 65536,
        "height": height / 65536,
        "tkhd_version": data[tkhd_start],
    }


class Receiver:
    """A webhook endpoint: a ThreadingHTTPServer that keeps every POST and answers scripted statuses (200 after)."""

    def __init__(self, statuses=()):
        self.statuses = deque(statuses)
        self.posts = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.posts.append({"path": self.path, "raw": raw, "at": time.monotonic()})
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def url(self, path="/hooks/higgsfield"):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def bodies(self):
        with self.lock:
            return [json.loads(post["raw"]) for post in self.posts]

    def wait_for(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.005)
        raise AssertionError(f"expected {count} webhook posts, got {len(self.posts)}")


# Auth


def test_it_refuses_calls_without_the_right_key(server):
    request_id = httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers=server.auth_headers).json()["request_id"]
    wrong = [
        {},
        {"Authorization": "Key test-id:wrong"},
        {"Authorization": "Bearer test-id:test-secret"},
        {"Authorization": "test-id:test-secret"},  # the spec's securitySchemes form, without "Key "
        {"hf-api-key": "test-id", "hf-secret": "wrong"},
        {"hf-api-key": "test-id"},
    ]
    for headers in wrong:
        for method, path in [
            ("POST", f"/{SOUL}"),
            ("GET", f"/requests/{request_id}/status"),
            ("POST", f"/requests/{request_id}/cancel"),
            ("GET", "/v1/motions"),
            ("POST", "/files/generate-upload-url"),
        ]:
            response = httpx.request(method, f"{server.url}{path}", json=PROMPT, headers={**headers, **AGENT})
            assert response.status_code == 401, (headers, path)
            assert response.json() == {"detail": "Invalid credentials"}
    assert len(server.submissions) == 1
    assert server.cancels == []
    assert server.rejections == []  # refused for the key, not the body


def test_it_takes_the_key_and_the_legacy_header_pair(server):
    documented = {"Authorization": "Key test-id:test-secret", **AGENT}
    legacy = {"hf-api-key": "test-id", "hf-secret": "test-secret", **AGENT}
    for headers in (documented, legacy):
        answer = httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers=headers)
        assert answer.status_code == 200, headers
        request_id = answer.json()["request_id"]
        assert httpx.get(f"{server.url}/requests/{request_id}/status", headers=headers).status_code == 200
        assert httpx.get(f"{server.url}/v1/text2image/soul-styles", headers=headers).status_code == 200
    assert len(server.submissions) == 2


def test_it_takes_other_keys_when_configured():
    with FakeHiggsfield(key_id="abc", key_secret="xyz") as fake:
        ok = httpx.post(f"{fake.url}/{SOUL}", json=PROMPT, headers={"Authorization": "Key abc:xyz", **AGENT})
        legacy = httpx.post(
            f"{fake.url}/{SOUL}", json=PROMPT, headers={"hf-api-key": "abc", "hf-secret": "xyz", **AGENT}
        )
        refused = httpx.post(
            f"{fake.url}/{SOUL}", json=PROMPT, headers={"Authorization": "Key test-id:test-secret", **AGENT}
        )
    assert ok.status_code == 200
    assert legacy.status_code == 200
    assert refused.status_code == 401


# User-Agent


@pytest.mark.parametrize(
    "agent", ["", "python-httpx/0.28.1", "python-requests/2.32.3", "curl/8.5.0", "Python-urllib/3.13", None]
)
def test_no_or_a_generic_user_agent_is_refused_like_cloudflare_does(server, agent):
    headers = {"Authorization": f"Key {server.key_id}:{server.key_secret}"}
    if agent is not None:
        headers["User-Agent"] = agent
    # With agent None, httpx sends its own default, python-httpx/<version>.
    for method, path in [("POST", f"/{SOUL}"), ("GET", "/requests/x/status"), ("GET", "/v1/motions")]:
        response = httpx.request(method, f"{server.url}{path}", json=PROMPT, headers=headers)
        assert response.status_code == 403, (agent, path)
        assert response.text == "error code: 1010"
        assert response.headers["content-type"].startswith("text/plain")
    assert server.submissions == []


def test_a_request_with_no_user_agent_header_at_all_is_refused(server):
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)  # http.client sends no User-Agent
    try:
        key = {"Authorization": f"Key {server.key_id}:{server.key_secret}", "Content-Type": "application/json"}
        connection.request("POST", f"/{SOUL}", body=json.dumps(PROMPT), headers=key)
        response = connection.getresponse()
        assert (response.status, response.read()) == (403, b"error code: 1010")
    finally:
        connection.close()


def test_a_named_client_passes_and_result_files_need_no_agent(server):
    agent = {"Authorization": f"Key {server.key_id}:{server.key_secret}", "User-Agent": "higgsfield-client-py/1.0"}
    request_id = httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers=agent).json()["request_id"]
    [image] = httpx.get(f"{server.url}/requests/{request_id}/status", headers=agent).json()["images"]
    assert httpx.get(image["url"]).status_code == 200  # a CDN URL: bare httpx, no key


# Request bodies, checked against the catalogue (models.json)


def minimal_value(param):
    """The smallest valid value of a models.json param (or item), from the catalogue alone."""
    if param.get("ref") == "MotionSchema":
        return {"id": str(uuid.uuid4()), "strength": 1.0}
    if param.get("ref") == "ImageUrlInputImageSchema":
        return {"type": "image_url", "image_url": IMAGE_URL}
    if "enum" in param:
        return param["enum"][0]
    kind, fmt = higgsfield_spec.param_type(param), param.get("format")
    if kind == "string" and fmt == "uri":
        return IMAGE_URL
    if kind == "string" and fmt == "uuid":
        return str(uuid.uuid4())
    if kind == "string":
        return "x" * max(1, param.get("min_length", 1))
    if kind == "integer":
        return param.get("min", 1)
    if kind == "number":
        return param.get("min", 0.5)
    if kind == "boolean":
        return True
    if kind == "array":
        return [minimal_value(param["items"])] * max(1, param.get("min_items", 0))
    raise AssertionError(f"no sample for {param}")


def test_every_model_takes_a_body_of_its_required_params(server, client):
    for model in MODELS:
        body = {param["name"]: minimal_value(param) for param in model["params"] if param["required"]}
        answer = client.post(model_path(model), json=body)
        assert answer.status_code == 200, (model["id"], body, answer.text)
        done = status_of(client, answer.json()["request_id"])
        assert ("video" in done) == (model["kind"] == "video"), model["id"]
        assert ("images" in done) == (model["kind"] == "image"), model["id"]
    assert len(server.submissions) == len(MODELS) == 48
    assert server.rejections == []


def test_every_model_takes_every_param_at_its_default(client):
    for model in MODELS:
        body = {p["name"]: p["default"] if "default" in p else minimal_value(p) for p in model["params"]}
        answer = client.post(model_path(model), json=body)
        assert answer.status_code == 200, (model["id"], body, answer.text)


@pytest.mark.parametrize(
    "model_id, body",
    [
        (KLING, {"prompt": "waves", "image_url": IMAGE_URL, "duration": 5}),
        (KLING, {"prompt": "waves", "image_url": IMAGE_URL, "duration": 10, "cfg_scale": 0.29}),  # 0.29/0.01 in floats
        (VEO, {"prompt": "waves", "image_url": IMAGE_URL, "duration": "8", "resolution": "1080"}),
        (
            DOP,
            {
                "prompt": "p",
                "image_url": IMAGE_URL,
                "seed": 1000000,
                "motions": [{"id": str(uuid.uuid4()), "strength": 0}] * 2,
            },
        ),
        ("wan-25-preview/text-to-video", {"prompt": "p", "seed": -1}),
        ("sora-2/image-to-video", {"prompt": "p"}),  # image_url is optional on this path in the spec
        ("nano-banana", {"prompt": "p", "input_images": [{"type": "image_url", "image_url": IMAGE_URL}]}),
        ("higgsfield-ai/soul/reference", {"prompt": "p", "image_reference_url": IMAGE_URL, "batch_size": 4}),
    ],
)
def test_valid_bodies_are_accepted(server, client, model_id, body):
    submit(client, model_id, body)
    assert server.submissions[0].body == body
    assert server.rejections == []


SOUL_CHARACTER = "higgsfield-ai/soul/character"


@pytest.mark.parametrize(
    "model_id, body, expected",
    [
        # The docs' own example sends resolution "720p" to soul/standard; its enum is 2K/4K (NOTES.md, 5).
        (SOUL, {"prompt": "p", "resolution": "720p"}, [(["body", "resolution"], "enum")]),
        (KLING, {"prompt": "p", "image_url": IMAGE_URL, "duration": "5"}, [(["body", "duration"], "int_type")]),
        (KLING, {"prompt": "p", "image_url": IMAGE_URL, "duration": 7}, [(["body", "duration"], "enum")]),
        (VEO, {"prompt": "p", "image_url": IMAGE_URL, "duration": 6}, [(["body", "duration"], "string_type")]),
        (DOP, {"prompt": "p", "image_url": IMAGE_URL, "seed": 0}, [(["body", "seed"], "greater_than_equal")]),
        # The spec types seed as an integer (its null default aside): we refuse null; omit the field instead.
        (DOP, {"prompt": "p", "image_url": IMAGE_URL, "seed": None}, [(["body", "seed"], "int_type")]),
        (
            DOP,
            {"prompt": "p", "image_url": IMAGE_URL, "enhance_prompt": "yes"},
            [(["body", "enhance_prompt"], "bool_type")],
        ),
        (
            "flux-pro/kontext/max/text-to-image",
            {"prompt": "p", "seed": 1000001},
            [(["body", "seed"], "less_than_equal")],
        ),
        (KLING, {"prompt": "p"}, [(["body", "image_url"], "missing")]),
        (KLING, {"prompt": "p", "image_url": "a.png"}, [(["body", "image_url"], "url_parsing")]),
        (KLING, {"prompt": "p", "image_url": IMAGE_URL, "cfg_scale": 0.005}, [(["body", "cfg_scale"], "multiple_of")]),
        (SOUL, {"prompt": "p", "style_id": str(uuid.uuid4())}, [(["body", "style_id"], "extra_forbidden")]),
        (SOUL, {"prompt": "p", "quality": "1080p"}, [(["body", "quality"], "extra_forbidden")]),
        ("reve/remix", {"prompt": "p", "image_urls": [IMAGE_URL]}, [(["body", "image_urls"], "too_short")]),
        (
            "kling-video/v2.1/master/text-to-video",
            {"prompt": "p" * 2501},
            [(["body", "prompt"], "string_too_long")],
        ),
        (
            "nano-banana",
            {"prompt": "p", "input_images": [{"type": "url", "image_url": IMAGE_URL}]},
            [(["body", "input_images", 0, "type"], "literal_error")],
        ),
        (
            SOUL_CHARACTER,
            {"prompt": "p", "style_id": "medieval"},
            [
                (["body", "style_id"], "uuid_parsing"),
                (["body", "custom_reference_id"], "missing"),
                (["body", "custom_reference_strength"], "missing"),  # required although it has a default
            ],
        ),
        (
            "veo3.1",
            {"prompt": "p"},
            [(["body", name], "missing") for name in ("resolution", "aspect_ratio", "generate_audio")],
        ),
        (
            DOP,
            {
                "image_url": IMAGE_URL,
                "motions": [{"id": str(uuid.uuid4()), "strength": 2}, {"id": "360-orbit", "strength": 1}, {}],
                "style_id": "x",
            },
            [
                (["body", "prompt"], "missing"),
                (["body", "motions"], "too_long"),
                (["body", "motions", 0, "strength"], "less_than_equal"),
                (["body", "motions", 1, "id"], "uuid_parsing"),
                (["body", "motions", 2, "id"], "missing"),
                (["body", "motions", 2, "strength"], "missing"),
                (["body", "style_id"], "extra_forbidden"),
            ],
        ),
    ],
)
def test_invalid_bodies_get_422_naming_every_field(server, client, model_id, body, expected):
    response = client.post(f"/{model_id}", json=body)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert all(set(item) == {"loc", "msg", "type"} and item["msg"] for item in detail), detail
    assert sorted((item["loc"], item["type"]) for item in detail) == sorted(expected)
    assert server.submissions == []
    [rejection] = server.rejections
    assert (rejection.path, rejection.body, rejection.status, rejection.detail) == (f"/{model_id}", body, 422, detail)


def test_a_422_reads_like_fastapis(client):
    response = client.post(f"/{KLING}", json={"image_url": IMAGE_URL, "duration": "5", "quality": "hd"})

    assert response.json() == {
        "detail": [
            {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "duration"], "msg": "Input should be a valid integer", "type": "int_type"},
            {"loc": ["body", "quality"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"},
        ]
    }
    wrong_enum = client.post(f"/{SOUL}", json={"prompt": "p", "resolution": "720p"}).json()["detail"]
    assert wrong_enum == [{"loc": ["body", "resolution"], "msg": "Input should be '2K' or '4K'", "type": "enum"}]


def test_an_unknown_model_path_is_404(server, client):
    # Ids from other sources that are not in the spec (docs/higgsfield-and-claude.md), a v1 path, a near miss.
    for path in [
        "/bytedance/seedream/v4/text-to-image",
        "/kling-video/v2.5/turbo/image-to-video",
        "/soul/standard",  # the catalogue id; the URL keeps the higgsfield-ai/ prefix
        "/v1/text2image/soul",
        f"/{SOUL}/extra",
    ]:
        response = client.post(path, json=PROMPT)
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"}), path
    assert server.submissions == []
    assert [(r.status, r.detail) for r in server.rejections] == [(404, "Not Found")] * 5


def test_tests_may_change_the_catalogue_as_they_go():
    with FakeHiggsfield() as server, httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
        server.models.append(
            {
                "id": "acme/v1/text-to-image",
                "path": "/acme/v1/text-to-image",
                "kind": "image",
                "params": [
                    {"name": "prompt", "type": "string", "required": True},
                    {"name": "steps", "required": False, "enum": [10, 20]},  # no type: inferred integer
                ],
            }
        )
        assert client.post("/acme/v1/text-to-image", json={"prompt": "p", "steps": 20}).status_code == 200
        refused = client.post("/acme/v1/text-to-image", json={"prompt": "p", "steps": "20"})
        assert refused.json()["detail"][0]["type"] == "int_type"
        assert "/acme/v1/text-to-image" in httpx.get(f"{server.url}/docs/openapi.json").json()["paths"]

        kling = server.model(f"/{KLING}")
        next(p for p in kling["params"] if p["name"] == "duration")["enum"].append(15)
        assert client.post(f"/{KLING}", json={"prompt": "p", "image_url": IMAGE_URL, "duration": 15}).status_code == 200

        server.models[:] = [model for model in server.models if model["id"] != "soul/standard"]
        assert client.post(f"/{SOUL}", json=PROMPT).status_code == 404
        assert f"/{SOUL}" not in server.openapi()["paths"]


def test_the_catalogue_can_come_from_another_file(tmp_path, monkeypatch):
    assert higgsfield_spec.models_json_path() == higgsfield_spec.DEFAULT_MODELS_JSON
    assert higgsfield_spec.DEFAULT_MODELS_JSON.is_file()
    one = [model for model in MODELS if model["id"] == "nano-banana"]
    (tmp_path / "models.json").write_text(json.dumps({"models": one}))
    monkeypatch.setenv(higgsfield_spec.MODELS_JSON_ENV, str(tmp_path / "models.json"))

    with FakeHiggsfield() as server:
        assert server.models == one
        assert httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers=server.auth_headers).status_code == 404
    given = FakeHiggsfield(models=copy.deepcopy(MODELS[:2]))
    assert [model["id"] for model in given.models] == [MODELS[0]["id"], MODELS[1]["id"]]


# The OpenAPI document


def test_it_serves_the_catalogue_as_higgsfields_openapi_document_without_a_key(server):
    for path in ("/docs/openapi.json", "/openapi.json"):
        response = httpx.get(f"{server.url}{path}")  # no key, httpx's own agent: docs.higgsfield.ai is public
        assert response.status_code == 200
        assert response.json() == openapi_document(MODELS)

    document = server.openapi()
    assert document["info"] == {"title": "API Reference"}
    assert document["servers"] == [{"url": "https://platform.higgsfield.ai"}]
    assert document["securitySchemes"]["authKey"]["name"] == "Authorization"
    assert "components" in document and "securitySchemes" not in document["components"]
    model_paths = {model_path(model) for model in MODELS}
    assert len(model_paths) == 48
    assert set(document["paths"]) == model_paths | {"/requests/{request_id}/status", "/requests/{request_id}/cancel"}
    assert list(document["paths"]["/requests/{request_id}/status"]) == ["get"]
    assert list(document["paths"]["/requests/{request_id}/cancel"]) == ["post"]
    assert document["components"]["schemas"]["RequestStatus"]["properties"]["status"]["enum"] == [
        "queued",
        "in_progress",
        "nsfw",
        "failed",
        "completed",
        "canceled",
    ]


def test_the_documents_request_bodies_look_like_the_published_ones(server):
    paths = server.openapi()["paths"]

    def body(path):
        operation = paths[path]["post"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RequestStatus"
        }
        request_body = operation["requestBody"]
        assert request_body["required"] is True
        return request_body["content"]["application/json"]["schema"]

    dop = body(f"/{DOP}")
    assert dop["type"] == "object"
    assert dop["required"] == ["prompt", "image_url"]
    assert dop["properties"]["seed"] == {
        "type": "integer",
        "title": "Seed",
        "default": None,
        "minimum": 1,
        "maximum": 1000000,
    }
    assert dop["properties"]["prompt"] == {"type": "string", "title": "Prompt"}
    assert dop["properties"]["motions"]["items"] == {"$ref": "#/definitions/MotionSchema"}
    assert body("/nano-banana")["properties"]["input_images"]["items"] == {
        "$ref": "#/definitions/ImageUrlInputImageSchema"
    }
    assert body("/higgsfield-ai/popcorn/auto")["properties"]["image_urls"]["items"] == {
        "type": "string",
        "format": "uri",
    }
    kling = body(f"/{KLING}")["properties"]["duration"]
    assert (kling["type"], kling["enum"], kling["default"]) == ("integer", [5, 10], 5)
    veo = body(f"/{VEO}")["properties"]["duration"]
    assert (veo["type"], veo["enum"], veo["default"]) == ("string", ["4", "6", "8"], "6")
    assert all(
        "title" in prop
        for path in paths
        if not path.startswith("/requests/")
        for prop in body(path)["properties"].values()
    )


def test_the_documents_schemas_round_trip_to_the_ones_the_fake_validates_with(server):
    read_back = request_schemas_from_openapi(server.openapi())
    validated_with = {model_path(model): request_schema(model) for model in server.models}

    assert read_back == validated_with == request_schemas(MODELS)
    for schema in validated_with.values():
        Draft202012Validator.check_schema(schema)
    motions = validated_with[f"/{DOP}"]["properties"]["motions"]
    assert motions["items"] == ITEM_SCHEMAS["MotionSchema"]
    assert validated_with[f"/{SOUL}"]["additionalProperties"] is False


def test_a_param_the_spec_leaves_untyped_round_trips_and_is_typed_from_its_enum(server, client):
    # soul/standard resolution has no `type` in the spec (NOTES.md); models.json fills it in. Take it out again.
    resolution = next(p for p in server.model(f"/{SOUL}")["params"] if p["name"] == "resolution")
    del resolution["type"]

    served = server.openapi()["paths"][f"/{SOUL}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "type" not in served["properties"]["resolution"]
    assert request_schemas_from_openapi(server.openapi()) == request_schemas(server.models)
    assert request_schema(server.model(f"/{SOUL}"))["properties"]["resolution"]["type"] == "string"
    refused = client.post(f"/{SOUL}", json={"prompt": "p", "resolution": 4})
    assert refused.json()["detail"] == [
        {"loc": ["body", "resolution"], "msg": "Input should be a valid string", "type": "string_type"}
    ]


# Lifecycle and results


def test_an_image_request_goes_queued_then_in_progress_then_completed_with_a_png(server, client):
    # A second each, so that each look lands in its phase even on a busy machine.
    server.queue_seconds = 1.0
    server.work_seconds = 1.0

    answer = submit(client, SOUL, {"prompt": "a rainy street", "aspect_ratio": "1:1"})

    request_id = answer["request_id"]
    assert answer == {
        "status": "queued",
        "request_id": request_id,
        "status_url": f"{server.url}/requests/{request_id}/status",
        "cancel_url": f"{server.url}/requests/{request_id}/cancel",
    }
    [sub] = server.submissions
    assert (sub.model_id, sub.body, sub.webhook_url) == (
        SOUL,
        {"prompt": "a rainy street", "aspect_ratio": "1:1"},
        None,
    )
    assert status_of(client, request_id)["status"] == "queued"
    wait_until(sub.submitted_at + 1.5)
    assert status_of(client, request_id)["status"] == "in_progress"
    assert request_id not in server.complete_times
    wait_until(sub.submitted_at + 2.05)
    done = status_of(client, request_id)
    assert done["status"] == "completed"
    assert done["request_id"] == request_id
    assert "video" not in done
    [image] = done["images"]
    assert server.complete_times[request_id] == pytest.approx(sub.submitted_at + 2.0)
    assert server.status_calls[request_id] == 3

    file = httpx.get(image["url"])  # no key, like a CDN URL
    assert file.status_code == 200
    assert file.headers["content-type"] == "image/png"
    picture = Image.open(BytesIO(file.content))
    assert (picture.format, picture.size) == ("PNG", (64, 48))


def test_a_video_request_completes_with_an_mp4_that_carries_its_duration_and_size(server, client):
    request_id = submit(client, KLING, {"prompt": "waves", "image_url": IMAGE_URL})["request_id"]

    done = status_of(client, request_id)

    assert done["status"] == "completed"
    assert "images" not in done
    file = httpx.get(done["video"]["url"])
    assert file.headers["content-type"] == "video/mp4"
    facts = mp4_facts(file.content)
    assert facts["boxes"] == ["ftyp", "moov", "mdat"]
    assert (facts["timescale"], facts["seconds"]) == (1000, 5.0)
    assert (facts["width"], facts["height"]) == (64, 48)


def test_the_file_helpers_make_other_sizes():
    assert Image.open(BytesIO(png_bytes(30, 20))).size == (30, 20)
    facts = mp4_facts(mp4_bytes(2500, 1280, 720))
    assert (facts["seconds"], facts["width"], facts["height"]) == (2.5, 1280, 720)


def test_it_tells_video_models_from_image_models():
    videos = [KLING, "higgsfield-ai/dop/standard", "bytedance/seedance/v1/pro/image-to-video", "minimax/hailuo-02"]
    images = [SOUL, "bytedance/seedream/v4/text-to-image", "google/nano-banana"]
    assert all(is_video_model(model) for model in videos)
    assert not any(is_video_model(model) for model in images)
    # The catalogue's 11 image and 37 video models (NOTES.md), by id and by path.
    assert [model["kind"] for model in MODELS].count("video") == 37
    for model in MODELS:
        assert is_video_model(model["id"]) == is_video_model(model_path(model)) == (model["kind"] == "video")


def test_it_serves_files_a_test_sets_and_404s_others(server):
    server.files["mine.png"] = b"not really"
    assert httpx.get(f"{server.url}/files/mine.png").content == b"not really"
    assert httpx.get(f"{server.url}/files/nobody.png").status_code == 404


def test_scripted_outcomes_fail_and_flag_nsfw_then_default_to_completed(server, client):
    server.outcomes.extend(["failed", Outcome("failed", error="Prompt rejected"), "nsfw"])

    ids = [submit(client)["request_id"] for _ in range(4)]

    answers = [status_of(client, request_id) for request_id in ids]
    assert [answer["status"] for answer in answers] == ["failed", "failed", "nsfw", "completed"]
    assert answers[0]["error"] == "Generation failed"
    assert answers[1]["error"] == "Prompt rejected"
    assert "images" not in answers[2] and "error" not in answers[2]
    assert not server.outcomes


def test_an_outcome_can_override_the_work_time_and_result_url(server, client):
    server.outcomes.append(Outcome("completed", work_seconds=10, result_url="https://cdn.example.com/x.png"))
    server.outcomes.append(Outcome("completed", result_url="https://cdn.example.com/y.png"))
    slow, fast = submit(client)["request_id"], submit(client)["request_id"]

    assert status_of(client, slow)["status"] == "in_progress"
    assert status_of(client, fast)["images"] == [{"url": "https://cdn.example.com/y.png"}]


def test_malformed_outcomes_answer_200_with_a_body_of_the_wrong_shape(server, client):
    server.outcomes.extend([Outcome("completed", malformed=True), Outcome("failed", malformed=b"{not json")])
    bare, broken = submit(client)["request_id"], submit(client)["request_id"]

    assert status_of(client, bare) == {"status": "completed"}
    response = client.get(f"/requests/{broken}/status")
    assert response.status_code == 200
    assert response.content == b"{not json"


def test_unknown_requests_are_404(client):
    assert client.get("/requests/nope/status").status_code == 404
    assert client.post("/requests/nope/cancel").status_code == 404


def test_a_submit_needs_a_json_object(server, client):
    for raw in (b"[1, 2]", b"{not json", b""):
        response = client.post(f"/{SOUL}", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert isinstance(response.json()["detail"], str)
    assert server.submissions == []
    assert [(r.path, r.body, r.status) for r in server.rejections] == [
        (f"/{SOUL}", [1, 2], 400),
        (f"/{SOUL}", b"{not json", 400),
        (f"/{SOUL}", b"", 400),
    ]


# Cancel


def test_it_cancels_while_queued_and_refuses_after_the_start(server, client):
    # A queue long enough for the first cancel to come inside it even on a busy machine.
    server.queue_seconds = 1.0
    server.work_seconds = 10
    early, late = submit(client)["request_id"], submit(client)["request_id"]

    canceled = client.post(f"/requests/{early}/cancel")
    assert canceled.status_code == 202
    assert status_of(client, early)["status"] == "canceled"
    assert early in server.complete_times

    wait_until(server.submission(late).submitted_at + 1.05)
    refused = client.post(f"/requests/{late}/cancel")
    assert refused.status_code == 400
    assert isinstance(refused.json()["detail"], str)
    assert status_of(client, late)["status"] == "in_progress"
    assert client.post(f"/requests/{early}/cancel").status_code == 400
    assert [(call.request_id, call.status) for call in server.cancels] == [(early, 202), (late, 400), (early, 400)]


# Webhooks


def test_it_posts_the_final_status_to_the_webhook_once_it_is_reached():
    with Receiver() as receiver, FakeHiggsfield(work_seconds=0.2) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            request_id = submit(client, webhook=receiver.url("/hooks/higgsfield?token=s3cret"))["request_id"]
            [post] = receiver.wait_for(1)
            assert server.wait_for_webhooks(2)
            polled = status_of(client, request_id)

    assert post["path"] == "/hooks/higgsfield?token=s3cret"
    assert json.loads(post["raw"]) == polled
    assert polled["status"] == "completed"
    # Sent once the job ended, on its own: it came before anyone polled.
    assert post["at"] >= server.complete_times[request_id]
    [delivery] = server.webhook_deliveries
    assert (delivery.request_id, delivery.attempt, delivery.status, delivery.error) == (request_id, 1, 200, None)
    assert server.submissions[0].webhook_url == receiver.url("/hooks/higgsfield?token=s3cret")


def test_the_envelope_webhook_format_wraps_outputs_in_a_payload():
    with Receiver() as receiver, FakeHiggsfield(webhook_format="envelope") as server:
        assert FakeHiggsfield().webhook_format == "flat"  # the documented body is the default
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            server.outcomes.extend(["completed", Outcome("failed", error="Prompt rejected"), "nsfw", "completed"])
            image, failed, nsfw = (submit(client, webhook=receiver.url())["request_id"] for _ in range(3))
            video = submit(client, KLING, {"prompt": "waves", "image_url": IMAGE_URL}, webhook=receiver.url())
            receiver.wait_for(4)
            assert server.wait_for_webhooks(2)
            polled = status_of(client, image)
            base = server.url

    bodies = {body["request_id"]: body for body in receiver.bodies()}
    assert bodies[image] == {
        "request_id": image,
        "status": "completed",
        "payload": {"images": [{"url": polled["images"][0]["url"], "content_type": "image/png"}]},
    }
    assert bodies[failed] == {"request_id": failed, "status": "failed", "error": "Prompt rejected", "payload": None}
    assert bodies[nsfw] == {"request_id": nsfw, "status": "nsfw", "payload": None}
    video_id = video["request_id"]
    assert bodies[video_id]["payload"] == {
        "video": [{"url": f"{base}/files/{video_id}.mp4", "content_type": "video/mp4"}]
    }
    assert set(polled) >= {"status_url", "cancel_url", "images"}  # polls keep the flat shape
    with pytest.raises(ValueError):
        FakeHiggsfield(webhook_format="nested")


def test_it_retries_a_webhook_the_receiver_refused():
    with Receiver(statuses=[500]) as receiver, FakeHiggsfield(webhook_retry_seconds=0.05) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            server.outcomes.append("failed")
            submit(client, webhook=receiver.url())
            first, second = receiver.wait_for(2)
            assert server.wait_for_webhooks(2)

    assert [body["status"] for body in receiver.bodies()] == ["failed", "failed"]
    assert [(d.attempt, d.status, d.ok) for d in server.webhook_deliveries] == [(1, 500, False), (2, 200, True)]


def test_it_retries_after_connection_errors_up_to_the_limit():
    with Receiver() as receiver:
        dead_url = receiver.url()
    with FakeHiggsfield(webhook_retry_seconds=0.01, webhook_max_attempts=3) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            submit(client, webhook=dead_url)
            assert server.wait_for_webhooks(2)

    deliveries = server.webhook_deliveries
    assert [d.attempt for d in deliveries] == [1, 2, 3]
    assert all(d.status is None and "ConnectionRefusedError" in d.error for d in deliveries)


def test_it_delivers_duplicates_after_a_success():
    with Receiver() as receiver, FakeHiggsfield(duplicate_webhooks=2, webhook_retry_seconds=0.01) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            request_id = submit(client, webhook=receiver.url())["request_id"]
            receiver.wait_for(3)
            assert server.wait_for_webhooks(2)

    assert [body["request_id"] for body in receiver.bodies()] == [request_id] * 3
    assert [(d.attempt, d.duplicate) for d in server.webhook_deliveries] == [(1, False), (2, True), (3, True)]


def test_a_cancel_delivers_the_canceled_status_once():
    # A queue long enough for the cancel to come inside it even on a busy machine.
    with Receiver() as receiver, FakeHiggsfield(queue_seconds=1.0, work_seconds=0.1) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            request_id = submit(client, webhook=receiver.url())["request_id"]
            client.post(f"/requests/{request_id}/cancel")
            receiver.wait_for(1)
            assert server.wait_for_webhooks(0.1)  # nothing left armed for the time it would have completed
            time.sleep(1.2)  # past that time

    assert [body["status"] for body in receiver.bodies()] == ["canceled"]
    assert [d.attempt for d in server.webhook_deliveries] == [1]


def test_two_hundred_concurrent_jobs_get_their_webhooks_on_time():
    async def submit_all(server, webhook):
        # 200 jobs in flight at once over 20 connections: 200 connections would mean 200 handler threads fighting
        # this one process's GIL with the client and the receiver, which measures the GIL rather than the fake.
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=server.url, headers=server.auth_headers, limits=limits) as client:
            responses = await asyncio.gather(
                *(client.post(f"/{SOUL}", json={"prompt": f"#{n}"}, params={"hf_webhook": webhook}) for n in range(200))
            )
        assert all(response.status_code == 200 for response in responses)

    with Receiver() as receiver, FakeHiggsfield(work_seconds=1.0) as server:
        asyncio.run(submit_all(server, receiver.url()))
        posts = receiver.wait_for(200, timeout=5)
        assert server.wait_for_webhooks(2)
        submitted = {sub.request_id: sub.submitted_at for sub in server.submissions}
        due = server.complete_times

    arrivals = {json.loads(post["raw"])["request_id"]: post["at"] for post in posts}
    assert len(arrivals) == 200
    lags = sorted(arrivals[rid] - due[rid] for rid in arrivals)
    assert lags[0] >= 0
    # Deliveries one after another would take minutes; a loaded machine may add a second, not more.
    late = [arrivals[rid] - submitted[rid] for rid in arrivals if arrivals[rid] - submitted[rid] > 2.5]
    assert not late, (
        f"{len(late)} late; lag after due: median {lags[100] * 1000:.1f} ms, worst {lags[-1] * 1000:.1f} ms"
    )


# Scripted HTTP faults


def test_fail_next_answers_scripted_errors_then_recovers(server, client):
    server.fail_next("submit", 429, headers={"Retry-After": "0"})
    server.fail_next("submit", 500, times=2)
    server.fail_next("submit", 403, body={"detail": "Not enough credits"})
    server.fail_next("submit", 422, body={"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]})

    answers = [client.post(f"/{SOUL}", json=PROMPT) for _ in range(6)]

    assert [answer.status_code for answer in answers] == [429, 500, 500, 403, 422, 200]
    assert answers[0].headers["retry-after"] == "0"
    assert answers[1].json() == {"detail": "Internal Server Error"}
    assert answers[3].json() == {"detail": "Not enough credits"}
    assert answers[4].json()["detail"][0]["loc"] == ["body", "prompt"]
    assert len(server.submissions) == 1
    assert [call.status for call in server.calls if call.kind == "submit"] == [429, 500, 500, 403, 422, 200]


def test_fail_next_covers_status_and_cancel_calls(server, client):
    server.queue_seconds = 5
    request_id = submit(client)["request_id"]
    server.fail_next("status", 503)
    server.fail_next("cancel", 400, body=b"oops")

    assert client.get(f"/requests/{request_id}/status").status_code == 503
    assert status_of(client, request_id)["status"] == "queued"
    refused = client.post(f"/requests/{request_id}/cancel")
    assert (refused.status_code, refused.content) == (400, b"oops")
    assert client.post(f"/requests/{request_id}/cancel").status_code == 202
    assert server.status_calls[request_id] == 2


def test_slow_next_delays_answers_past_a_client_timeout(server, client):
    # A long wait (stop() cuts it short), so that the next answer's speed tells even on a busy machine.
    server.slow_next("submit", 10.0)

    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/{SOUL}", json=PROMPT, timeout=0.1)
    # Only the next call waits: the one after is answered within the client's own timeout.
    assert client.post(f"/{SOUL}", json=PROMPT).status_code == 200


def test_slow_next_then_answers(server, client):
    request_id = submit(client)["request_id"]
    # Long waits (stop() cuts them short): each of the next two calls outlasts a short client timeout.
    server.slow_next("status", 10.0, times=2)

    for _ in range(2):
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"/requests/{request_id}/status", timeout=0.1)
    # The third is not slowed: it is answered within the client's own timeout.
    assert status_of(client, request_id)["request_id"] == request_id


def test_scripts_refuse_unknown_path_kinds(server):
    with pytest.raises(ValueError):
        server.fail_next("download", 500)
    with pytest.raises(ValueError):
        server.slow_next("unknown", 1)
    with pytest.raises(ValueError):
        Outcome("canceled")


# Catalogue lists


def test_it_serves_the_catalogue_lists_tests_set(server, client):
    assert client.get("/v1/text2image/soul-styles").json() == []
    server.styles = [{"id": "s1", "name": "Medieval", "description": "", "preview_url": "https://x/1.webp"}]
    server.motions = [{"id": "m1", "name": "360 Orbit", "description": "", "preview_url": "", "start_end_frame": True}]

    assert client.get("/v1/text2image/soul-styles").json() == server.styles
    assert client.get("/v1/motions").json() == server.motions


# Stop


def fake_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("fake-higgsfield")]


def test_stop_ends_every_thread_promptly_even_with_work_pending():
    with Receiver(statuses=[500] * 100) as receiver:
        server = FakeHiggsfield(work_seconds=0.0, webhook_retry_seconds=0.01).start()
        base, headers = server.url, server.auth_headers
        httpx.post(f"{base}/{SOUL}", json=PROMPT, params={"hf_webhook": receiver.url()}, headers=headers)
        server.work_seconds = 60
        httpx.post(f"{base}/{SOUL}", json=PROMPT, params={"hf_webhook": receiver.url()}, headers=headers)
        server.slow_next("status", 30)
        outcome = []

        def poll_slowly():
            try:
                outcome.append(httpx.get(f"{base}/requests/x/status", headers=headers, timeout=10))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        hanging = threading.Thread(target=poll_slowly)
        hanging.start()
        receiver.wait_for(3)
        time.sleep(0.05)  # the slow status call is waiting in the fake

        # stop() raises if a thread outlives its deadline (join_timeout): the minute of work, the 30 s status call
        # and the webhook retries are all cut short.
        server.stop()
        hanging.join(5)

    assert fake_threads() == []
    assert not hanging.is_alive()
    assert isinstance(outcome[0], httpx.HTTPError)  # the slow call was dropped, not answered
    with pytest.raises(RuntimeError):
        _ = server.url
    server.stop()  # a second stop is harmless


def test_it_can_start_again_after_a_stop():
    server = FakeHiggsfield()
    with server:
        first = server.url
    with server:
        assert httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers=server.auth_headers).status_code == 200
    assert fake_threads() == []
    assert first  # the port may differ between runs


# The account's limits (docs /concepts/rate-limits, /enterprise/capacity)


def test_at_the_concurrency_limit_a_submission_gets_400_until_a_request_ends():
    # Long enough work that the refused submission surely comes while both run, even on a busy machine.
    with FakeHiggsfield(account_concurrency=2, work_seconds=2.0) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            first = submit(client)["request_id"]
            submit(client)
            refused = post(client)
            assert server.submission(first).final_at > time.monotonic()  # it did come while both ran

            assert refused.status_code == 400
            assert refused.json() == {"detail": "Maximum number of concurrent requests (2) has been reached"}
            assert "retry-after" not in refused.headers
            assert len(server.submissions) == 2
            [refusal] = server.capacity_refusals
            assert (refusal.path, refusal.body, refusal.status, refusal.detail) == (
                f"/{SOUL}",
                PROMPT,
                400,
                "Maximum number of concurrent requests (2) has been reached",
            )
            assert server.rejections == []

            wait_until(server.submission(first).final_at + 0.1)
            assert post(client).status_code == 200  # the first one's slot is free
            assert len(server.submissions) == 3
            assert server.max_in_flight() == 2


def test_a_canceled_request_frees_its_slot_at_once(server, client):
    server.account_concurrency = 1
    server.queue_seconds = 5.0
    first = submit(client)["request_id"]
    assert post(client).status_code == 400

    assert client.post(f"/requests/{first}/cancel").status_code == 202
    assert post(client).status_code == 200


def test_the_limits_are_off_by_default_and_may_be_set_between_submissions(server, client):
    server.work_seconds = 30
    for _ in range(5):
        submit(client)
    assert (server.account_concurrency, server.account_queue_multiple) == (None, None)

    server.account_concurrency = 5
    assert post(client).status_code == 400
    server.account_queue_multiple = 1
    assert post(client).json()["status"] == "queued"
    server.account_concurrency = None
    assert post(client).status_code == 200
    assert len(server.submissions) == 7
    with pytest.raises(ValueError):
        FakeHiggsfield(account_concurrency=0)
    with pytest.raises(ValueError):
        FakeHiggsfield(account_queue_multiple=-1)


def test_in_queue_mode_a_submission_above_the_limit_is_accepted_and_starts_when_a_slot_frees():
    with FakeHiggsfield(account_concurrency=1, account_queue_multiple=2, work_seconds=1.5) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            answers = [submit(client) for _ in range(3)]
            a, b, c = (server.submission(answer["request_id"]) for answer in answers)

            assert [answer["status"] for answer in answers] == ["queued"] * 3
            # First in, first started: each starts as the one before it ends.
            assert (a.started_at, b.started_at, c.started_at) == (a.submitted_at, a.final_at, b.final_at)
            assert c.final_at == pytest.approx(a.submitted_at + 4.5)
            assert status_of(client, b.request_id)["status"] == "queued"

            wait_until(a.final_at + 0.3)
            assert [status_of(client, sub.request_id)["status"] for sub in (a, b, c)] == [
                "completed",
                "in_progress",
                "queued",
            ]
            wait_until(b.final_at + 0.3)
            assert [status_of(client, sub.request_id)["status"] for sub in (b, c)] == ["completed", "in_progress"]
            assert a.request_id in server.complete_times and c.request_id not in server.complete_times
            assert server.max_in_flight() == 3


def test_in_queue_mode_a_full_queue_answers_429_with_retry_after_and_creates_nothing():
    with FakeHiggsfield(account_concurrency=2, account_queue_multiple=1, work_seconds=30) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            for _ in range(4):  # two running, two waiting: the queue's limit is 1 x 2
                submit(client)
            server.outcomes.append("failed")  # not taken by the refused one
            refused = post(client)

            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "5"
            assert refused.json() == {"detail": "Account queue is full", "code": "account_queue_full", "limit": 2}
            assert len(server.submissions) == 4
            assert list(server.outcomes) == ["failed"]
            [refusal] = server.capacity_refusals
            assert (refusal.status, refusal.detail) == (429, "Account queue is full")
            assert server.rejections == []

            server.queue_full_retry_after = 30
            assert post(client).headers["retry-after"] == "30"


def test_canceling_a_waiting_request_moves_the_ones_behind_it_earlier():
    with (
        Receiver() as receiver,
        FakeHiggsfield(account_concurrency=1, account_queue_multiple=3, work_seconds=1.0) as server,
    ):
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            a, b, c = (server.submission(submit(client, webhook=receiver.url())["request_id"]) for _ in range(3))
            was_due = c.final_at

            assert client.post(f"/requests/{b.request_id}/cancel").status_code == 202

            assert status_of(client, b.request_id)["status"] == "canceled"
            assert c.started_at == a.final_at  # b's place is c's now
            assert c.final_at == pytest.approx(was_due - 1.0)
            receiver.wait_for(3, timeout=10)
            wait_until(was_due + 0.3)  # past the time c's webhook was first due: it must not go out again
            assert server.wait_for_webhooks(5)
            arrivals = {json.loads(post["raw"])["request_id"]: post["at"] for post in receiver.posts}
            bodies = {body["request_id"]: body["status"] for body in receiver.bodies()}
            due = server.complete_times

    assert bodies == {a.request_id: "completed", b.request_id: "canceled", c.request_id: "completed"}
    assert due[c.request_id] <= arrivals[c.request_id] < was_due
    assert [d.request_id for d in server.webhook_deliveries].count(c.request_id) == 1


def test_a_lowered_limit_moves_waiting_requests_later_and_their_webhooks_with_them():
    with (
        Receiver() as receiver,
        FakeHiggsfield(account_concurrency=2, account_queue_multiple=2, work_seconds=1.0) as server,
    ):
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            server.outcomes.extend([Outcome("completed", work_seconds=0.5), Outcome("completed", work_seconds=2.0)])
            a, b, c = (server.submission(submit(client, webhook=receiver.url())["request_id"]) for _ in range(3))
            assert c.started_at == a.final_at

            server.account_concurrency = 1
            d = server.submission(submit(client)["request_id"])

            assert c.started_at == b.final_at  # one slot now, and b holds it until it ends
            assert d.started_at == c.final_at
            receiver.wait_for(3, timeout=10)
            assert server.wait_for_webhooks(5)
            arrivals = {json.loads(post["raw"])["request_id"]: post["at"] for post in receiver.posts}

    assert {body["status"] for body in receiver.bodies()} == {"completed"}
    assert arrivals[c.request_id] >= c.final_at


def test_max_in_flight_counts_requests_queued_or_running_at_once(server, client):
    server.queue_seconds = 5.0
    assert server.max_in_flight() == 0
    first = submit(client)["request_id"]
    submit(client)
    assert client.post(f"/requests/{first}/cancel").status_code == 202
    submit(client)  # the canceled one no longer counts

    assert server.max_in_flight() == 2


# Idempotency-Key (docs /concepts/idempotency)


def test_a_repeat_under_the_same_key_answers_the_original_request_and_creates_nothing(server, client):
    server.queue_seconds = 5.0
    first = post(client, key="job-1")
    again = post(client, key="job-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["status"] == "queued"
    [sub] = server.submissions
    assert sub.idempotency_key == "job-1"
    [replay] = server.replays
    assert (replay.key, replay.request_id) == ("job-1", sub.request_id)
    assert post(client).json()["request_id"] != sub.request_id  # no key: a new request
    assert server.submissions[1].idempotency_key is None


def test_a_repeat_is_answered_even_at_the_capacity_limit():
    for queue_multiple in (None, 0):  # the 400 mode, and a queue with no room
        with FakeHiggsfield(account_concurrency=1, account_queue_multiple=queue_multiple, work_seconds=30) as server:
            with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
                request_id = post(client, key="job-1").json()["request_id"]
                again = post(client, key="job-1")
                other = post(client, key="job-2")

        assert (again.status_code, again.json()["request_id"]) == (200, request_id)
        assert other.status_code in (400, 429)
        assert len(server.submissions) == 1
        assert len(server.replays) == len(server.capacity_refusals) == 1


@pytest.mark.parametrize(
    "changed",
    [
        {"body": {"prompt": "a sunny street"}},
        {"body": {"prompt": "a rainy street", "aspect_ratio": "1:1"}},  # a field omitted the first time
        {"webhook": "https://higgs.example/hooks/higgsfield?token=other"},
        {"webhook": None},
        {"model_id": "nano-banana"},  # another endpoint
    ],
)
def test_the_same_key_with_other_parameters_is_refused_with_422(server, client, changed):
    sent = {"body": PROMPT, "webhook": "https://higgs.example/hooks/higgsfield?token=t"}
    request_id = post(client, key="job-1", **sent).json()["request_id"]

    refused = post(client, key="job-1", **{**sent, **changed})

    assert refused.status_code == 422
    assert refused.json() == {"detail": "Idempotency-Key was already used with different request parameters"}
    assert [sub.request_id for sub in server.submissions] == [request_id]
    [rejection] = server.rejections
    assert (rejection.status, rejection.detail) == (422, refused.json()["detail"])
    assert server.replays == []
    assert post(client, key="job-1", **sent).json()["request_id"] == request_id  # the key still holds


def test_object_key_order_does_not_matter_but_array_order_does(server, client):
    images = [{"type": "image_url", "image_url": f"https://example.com/{n}.png"} for n in (1, 2)]
    first = post(client, {"prompt": "p", "aspect_ratio": "1:1"}, key="k1")
    reordered = post(client, {"aspect_ratio": "1:1", "prompt": "p"}, key="k1")
    assert reordered.json()["request_id"] == first.json()["request_id"]

    assert post(client, {"prompt": "p", "input_images": images}, key="k2", model_id="nano-banana").status_code == 200
    swapped = post(client, {"prompt": "p", "input_images": images[::-1]}, key="k2", model_id="nano-banana")
    assert swapped.status_code == 422
    assert len(server.submissions) == 2


def test_an_explicit_null_differs_from_an_omitted_field(server, client):
    # No catalogue param takes null; one without a type in the spec takes any value.
    server.models.append(
        {
            "id": "acme/v1/text-to-image",
            "path": "/acme/v1/text-to-image",
            "kind": "image",
            "params": [{"name": "prompt", "type": "string", "required": True}, {"name": "negative_prompt"}],
        }
    )
    first = post(client, {"prompt": "p"}, key="k", model_id="acme/v1/text-to-image")
    with_null = post(client, {"prompt": "p", "negative_prompt": None}, key="k", model_id="acme/v1/text-to-image")

    assert first.status_code == 200
    assert with_null.status_code == 422
    assert len(server.submissions) == 1


def test_a_submission_refused_before_acceptance_does_not_use_up_its_key(server, client):
    server.work_seconds = 30
    server.account_concurrency = 1
    running = submit(client)["request_id"]
    key = {"Idempotency-Key": "job-1"}
    assert post(client, {"prompt": "p", "quality": "hd"}, key="job-1").status_code == 422  # invalid body
    assert post(client, key="job-1", model_id="acme/none").status_code == 404
    assert httpx.post(f"{server.url}/{SOUL}", json=PROMPT, headers={**key, **AGENT}).status_code == 401
    server.fail_next("submit", 503)
    assert post(client, key="job-1").status_code == 503
    assert post(client, key="job-1").status_code == 400  # the concurrency limit
    assert [sub.request_id for sub in server.submissions] == [running]

    server.account_concurrency = None
    accepted = post(client, {"prompt": "something else"}, key="job-1")

    assert accepted.status_code == 200
    assert accepted.json()["request_id"] != running
    assert server.replays == []
    assert post(client, key="job-1").status_code == 422  # now it is used, by the accepted body


def test_a_final_request_keeps_its_key_and_is_never_restarted(server, client):
    server.outcomes.append("failed")
    failed = post(client, key="failed-one").json()["request_id"]
    assert status_of(client, failed)["status"] == "failed"
    server.queue_seconds = 5.0
    canceled = post(client, key="canceled-one").json()["request_id"]
    assert client.post(f"/requests/{canceled}/cancel").status_code == 202

    again = [post(client, key=key).json() for key in ("failed-one", "canceled-one")]

    assert [(answer["request_id"], answer["status"]) for answer in again] == [
        (failed, "failed"),
        (canceled, "canceled"),
    ]
    assert set(again[0]) == {"status", "request_id", "status_url", "cancel_url"}
    assert len(server.submissions) == 2


def test_submissions_with_the_same_key_at_the_same_time_make_one_request(server):
    server.slow_next("submit", 0.3, times=8)  # they wait together, then race for the key
    barrier = threading.Barrier(8)
    answers = []

    def send():
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=10.0) as client:
            barrier.wait()
            answers.append(post(client, key="the-same"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert [answer.status_code for answer in answers] == [200] * 8
    [sub] = server.submissions
    assert {answer.json()["request_id"] for answer in answers} == {sub.request_id}
    assert len(server.replays) == 7


@pytest.mark.parametrize("key", ["", "two words", "tab\there", "x" * 256, "ключ".encode(), "é".encode("latin-1")])
def test_a_malformed_key_is_refused_with_400(server, client, key):
    refused = client.post(f"/{SOUL}", json=PROMPT, headers={"Idempotency-Key": key})

    assert refused.status_code == 400
    assert refused.json() == {"detail": "Invalid Idempotency-Key header"}
    assert server.submissions == []
    [rejection] = server.rejections
    assert (rejection.status, rejection.detail) == (400, "Invalid Idempotency-Key header")


def test_a_key_of_255_visible_characters_is_taken_and_two_keys_are_not(server, client):
    assert post(client, key="~" * 255).status_code == 200
    assert post(client, key=str(uuid.uuid4()) + "!#$%&'*+-.^_`|").status_code == 200
    doubled = client.post(f"/{SOUL}", json=PROMPT, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "a")])
    assert doubled.status_code == 400
    assert len(server.submissions) == 2


# Lost answers


@pytest.mark.parametrize("how", ["hang_up", "no_request_id", "gateway"])
def test_a_lost_answer_still_makes_the_request_and_a_repeat_with_its_key_finds_it(how):
    with Receiver() as receiver, FakeHiggsfield(work_seconds=0.5) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            server.lose_next(how=how)
            if how == "hang_up":
                with pytest.raises(httpx.TransportError):
                    post(client, key="job-1", webhook=receiver.url())
            else:
                lost = post(client, key="job-1", webhook=receiver.url())
                expected = (200, {"status": "queued"}) if how == "no_request_id" else (502, {"detail": "Bad Gateway"})
                assert (lost.status_code, lost.json()) == expected

            [sub] = server.submissions
            assert server.lost_answers == [sub.request_id]
            again = post(client, key="job-1", webhook=receiver.url())
            [hook] = receiver.wait_for(1)

    assert (again.status_code, again.json()["request_id"]) == (200, sub.request_id)
    assert json.loads(hook["raw"])["request_id"] == sub.request_id
    assert len(server.submissions) == 1


def test_lose_next_loses_new_acceptances_only_and_then_stops(server, client):
    request_id = post(client, key="job-1").json()["request_id"]
    server.lose_next(times=2, how="gateway")
    refused = post(client, {"prompt": "p", "quality": "hd"})

    replay = post(client, key="job-1")
    lost = [post(client), post(client)]
    answered = post(client)

    assert refused.status_code == 422  # refusals and replays do not take a loss
    assert (replay.status_code, replay.json()["request_id"]) == (200, request_id)
    assert [answer.status_code for answer in lost] == [502, 502]
    assert answered.status_code == 200
    assert server.lost_answers == [sub.request_id for sub in server.submissions[1:3]]
    with pytest.raises(ValueError):
        server.lose_next(how="timeout")


def test_lose_rate_hangs_up_on_about_that_share_the_same_way_for_the_same_seed():
    def lost_indexes(seed):
        with FakeHiggsfield(lose_rate=0.3, seed=seed) as server:
            with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
                lost = []
                for n in range(100):
                    try:
                        post(client)
                    except httpx.TransportError:
                        lost.append(n)
        assert len(server.submissions) == 100
        assert server.lost_answers == [server.submissions[n].request_id for n in lost]
        return lost

    first = lost_indexes(7)

    assert 15 <= len(first) <= 45
    assert lost_indexes(7) == first
    assert FakeHiggsfield().lose_rate == 0.0
    with pytest.raises(ValueError):
        FakeHiggsfield(lose_rate=1.5)


# Presigned uploads (docs /concepts/file-uploads)


def upload_ticket(client, content_type="image/png"):
    response = client.post("/files/generate-upload-url", json={"content_type": content_type})
    assert response.status_code == 200, response.text
    return response.json()


SIGNATURE_MISMATCH = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature'
    " we calculated does not match the signature you provided.</Message></Error>"
)


def test_an_upload_url_comes_with_the_headers_its_put_must_carry(server, client):
    ticket = upload_ticket(client, "image/jpeg")

    assert set(ticket) == {"upload_url", "public_url", "content_type", "upload_headers"}
    assert ticket["content_type"] == "image/jpeg"
    assert ticket["upload_headers"] == {"Content-Type": "image/jpeg", "x-amz-tagging": "retention=temporary"}
    for content_type in ("image/jpg", "image/png", "image/webp", "image/gif", "audio/wav", "audio/x-wav", "video/mp4"):
        assert upload_ticket(client, content_type)["upload_headers"]["Content-Type"] == content_type


def test_a_put_missing_a_signed_header_is_refused_like_s3_and_the_url_stays_usable(server, client):
    ticket = upload_ticket(client)
    data = png_bytes()
    for headers in (
        {"Content-Type": "image/png"},
        {"Content-Type": "image/png", "x-amz-tagging": "retention=forever"},
        {"Content-Type": "image/jpeg", "x-amz-tagging": "retention=temporary"},
        {"x-amz-tagging": "retention=temporary"},
    ):
        refused = httpx.put(ticket["upload_url"], content=data, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.headers["content-type"] == "application/xml"
        assert refused.text == SIGNATURE_MISMATCH
    assert server.uploads == {}

    # Header names are case-insensitive, as on S3.
    stored = httpx.put(
        ticket["upload_url"],
        content=data,
        headers={"content-type": "image/png", "X-Amz-Tagging": "retention=temporary"},
    )

    assert stored.status_code == 200
    name = ticket["public_url"].rpartition("/")[2]
    assert server.uploads == {name: ("image/png", data)}
    assert httpx.get(ticket["public_url"]).content == data
    used = httpx.put(ticket["upload_url"], content=data, headers=ticket["upload_headers"])
    assert used.status_code == 403


def test_our_api_credentials_on_the_put_are_refused(server, client):
    ticket = upload_ticket(client)
    for credentials in (
        {"Authorization": f"Key {server.key_id}:{server.key_secret}"},
        {"hf-api-key": server.key_id, "hf-secret": server.key_secret},
        {"hf-secret": server.key_secret},
    ):
        refused = httpx.put(ticket["upload_url"], content=b"x", headers={**ticket["upload_headers"], **credentials})
        assert (refused.status_code, refused.text) == (403, SIGNATURE_MISMATCH)
    assert server.uploads == {}
    assert httpx.put(ticket["upload_url"], content=b"x", headers=ticket["upload_headers"]).status_code == 200


def test_an_unsupported_content_type_gets_422(client):
    for content_type in ("image/tiff", "application/pdf", "video/quicktime", "text/plain", 7):
        refused = client.post("/files/generate-upload-url", json={"content_type": content_type})
        assert (refused.status_code, refused.json()) == (422, {"detail": "Unsupported content_type"}), content_type


def test_without_signed_headers_the_put_needs_only_its_content_type():
    with FakeHiggsfield(upload_headers_signed=False) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=5.0) as client:
            ticket = upload_ticket(client)
            wrong = httpx.put(ticket["upload_url"], content=b"x", headers={"Content-Type": "image/jpeg"})
            right = httpx.put(ticket["upload_url"], content=b"x", headers={"Content-Type": "image/png"})

    assert "upload_headers" not in ticket
    assert (wrong.status_code, right.status_code) == (403, 200)
    assert list(server.uploads.values()) == [("image/png", b"x")]
