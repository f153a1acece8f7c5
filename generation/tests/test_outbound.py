"""We fetch only from public addresses (higgs_project.outbound): results, redirects, webhook deliveries and the
images a person hands to a job cannot make us reach loopback, our network or the cloud's metadata service."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.test import Client

from chats.models import Attachment
from generation.credits import credits_balance
from generation.higgsfield import HiggsfieldClient, HiggsfieldError
from generation.models import Generation
from generation.tests.conftest import finish, start
from generation.tests.fake_higgsfield import Outcome, png_bytes
from higgs_project import outbound

NOT_PUBLIC = "The result's address is not a public one, so it was not fetched."
PROMPT_JOB = {"mode": "text-to-image", "model_name": "nano-banana", "prompt": "a lighthouse in a storm at night"}


# --- The decision ---


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://127.8.9.10:8000/x.png",
        "http://10.0.0.5/x.png",
        "http://172.16.3.4/x.png",
        "http://192.168.1.20/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/x.png",
        "http://0.0.0.0/x.png",
        "http://224.0.0.1/x.png",
        "http://2130706433/x.png",  # 127.0.0.1 spelt as a number
        "http://[::1]/x.png",
        "http://[fc00::1]/x.png",
        "http://[fd12:3456::1]/x.png",
        "http://[fe80::1]/x.png",
        "http://[::ffff:10.0.0.1]/x.png",
        "http://localhost:8000/x.png",
        "file:///etc/passwd",
        "ftp://93.184.216.34/x.png",
        "gopher://93.184.216.34:70/_x",
        "https:///x.png",
    ],
)
def test_it_refuses_what_is_not_an_http_url_on_a_public_address(url, settings):
    settings.OUTBOUND_ALLOW_HOSTS = []
    with pytest.raises(outbound.OutboundRefused):
        outbound.url_check(url)


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/photo.png", "http://93.184.216.34:8080/x", "https://[2606:4700::1111]/"]
)
def test_a_public_address_passes(url, settings):
    settings.OUTBOUND_ALLOW_HOSTS = []
    outbound.url_check(url)  # no lookup for a literal address, and no connection: the decision only


def test_an_allowed_host_and_port_passes_and_only_that_port(settings):
    settings.OUTBOUND_ALLOW_HOSTS = ["127.0.0.1:8123", "localhost", "[::1]:9000"]
    outbound.url_check("http://127.0.0.1:8123/files/x.png")
    outbound.url_check("http://localhost:1234/x.png")
    outbound.url_check("http://[::1]:9000/x.png")
    for url in ("http://127.0.0.1:8124/x.png", "http://[::1]:9001/x.png", "http://10.0.0.5/x.png"):
        with pytest.raises(outbound.OutboundRefused):
            outbound.url_check(url)


def test_an_allowed_host_still_has_to_be_http(settings):
    settings.OUTBOUND_ALLOW_HOSTS = ["localhost"]
    with pytest.raises(outbound.OutboundRefused):
        outbound.url_check("gopher://localhost/x")


# --- A second server on loopback, not allowed: what an attacker would have us fetch ---


class _Files(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        self._png()

    def do_PUT(self):
        self.server.hits.append(self.path)
        self._png()

    do_POST = do_PUT

    def _png(self):
        body = png_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def internal():
    """A server on 127.0.0.1 serving a PNG at any path, not in OUTBOUND_ALLOW_HOSTS; `hits` lists its requests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    server.hits = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_the_client_refuses_to_connect_to_a_host_that_is_not_allowed(internal, settings):
    settings.OUTBOUND_ALLOW_HOSTS = []
    with outbound.client() as http, pytest.raises(outbound.OutboundRefused):
        http.get(f"{internal.url}/x.png")
    assert internal.hits == []


def test_higgsfields_api_its_spec_and_its_upload_urls_are_under_the_same_rule(higgsfield, internal, settings):
    # The fake is allowed by name; the same loopback address on another port is not.
    higgsfield.fail_next("upload", 200, body={"upload_url": f"{internal.url}/put", "public_url": f"{internal.url}/x"})
    with HiggsfieldClient() as client:
        with pytest.raises(HiggsfieldError) as caught:
            client.upload(png_bytes(), content_type="image/png")
        assert caught.value.permanent
        with pytest.raises(HiggsfieldError) as caught:
            client.openapi(f"{internal.url}/docs/openapi.json")
        assert caught.value.permanent
    settings.HIGGSFIELD_BASE_URL = internal.url
    with HiggsfieldClient() as client:
        submission = client.submission("higgsfield-ai/soul/standard", {"prompt": "a lake"})
        for call in (lambda: client.submit(submission, idempotency_key="job-1"), client.catalogue):
            with pytest.raises(HiggsfieldError) as caught:
                call()
            assert caught.value.permanent and not caught.value.maybe_sent
            assert "not a public one" in str(caught.value)
    assert internal.hits == []


# --- Results ---

jobs = pytest.mark.django_db(transaction=True)


@jobs
def test_a_polled_result_on_a_private_address_fails_the_job_and_is_never_fetched(
    higgsfield, internal, alice, alice_api, run_worker
):
    higgsfield.outcomes.append(Outcome("completed", result_url=f"{internal.url}/secret.png"))
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error == NOT_PUBLIC
    assert generation.result_id is None
    assert not Attachment.objects.filter(owner=alice).exists()
    assert internal.hits == []


def _submitted(higgsfield, alice_api, run_worker, **payload):
    """A job waiting in Higgsfield's queue (for a minute): only a delivery can move it now."""
    higgsfield.queue_seconds = 60
    generation_id = start(alice_api, **(payload or PROMPT_JOB))
    run_worker(lambda: Generation.objects.get(pk=generation_id).status == "submitted")
    return Generation.objects.get(pk=generation_id)


def _deliver(generation, body):
    return Client().post(f"/api/higgsfield/webhook/{generation.webhook_token}", body, content_type="application/json")


@jobs
@pytest.mark.parametrize("shape", ["flat", "envelope"])
def test_a_delivered_result_on_a_private_address_fails_the_job_and_is_never_fetched(
    higgsfield, internal, alice, alice_api, run_worker, shape
):
    generation = _submitted(higgsfield, alice_api, run_worker)
    images = [{"url": f"{internal.url}/secret.png"}]
    body = {"request_id": generation.provider_request_id, "status": "completed"}
    body.update({"images": images} if shape == "flat" else {"payload": {"images": images}})
    assert _deliver(generation, body).status_code == 200
    generation = finish(run_worker, generation.pk)
    assert generation.status == "failed"
    assert generation.error == NOT_PUBLIC
    assert not Attachment.objects.filter(owner=alice).exists()
    assert internal.hits == []


@jobs
def test_a_redirect_from_an_allowed_host_to_a_private_address_is_not_followed(
    higgsfield, internal, alice, alice_api, run_worker
):
    higgsfield.fail_next("file", 302, body=b"", headers={"Location": f"{internal.url}/secret.png"})
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error == NOT_PUBLIC
    assert not Attachment.objects.filter(owner=alice).exists()
    assert internal.hits == []


def test_redirects_within_allowed_hosts_are_followed_by_hand_up_to_five(higgsfield):
    higgsfield.files["real.png"] = png_bytes()
    higgsfield.fail_next("file", 302, times=5, body=b"", headers={"Location": "/files/real.png"})
    with HiggsfieldClient() as client:
        assert client.fetch(f"{higgsfield.url}/files/first.png", max_bytes=10**6) == png_bytes()
        higgsfield.fail_next("file", 302, times=6, body=b"", headers={"Location": "/files/real.png"})
        with pytest.raises(HiggsfieldError):
            client.fetch(f"{higgsfield.url}/files/first.png", max_bytes=10**6)


EBML_OF_ANOTHER_TYPE = b"\x1a\x45\xdf\xa3\x89\x42\x82\x86s3cret"


@jobs
@pytest.mark.parametrize(
    ("answer", "telltales"),
    [
        (b"\xde\xad\xbe\xef internal-token-7f3a", ["de ad be ef", "internal-token"]),
        (EBML_OF_ANOTHER_TYPE, ["s3cret"]),
        (b'{"AccessKeyId": "ASIA-internal"}', ["AccessKeyId", "ASIA"]),
    ],
)
def test_an_answer_that_is_not_media_fails_the_job_without_any_of_its_bytes(
    higgsfield, alice_api, run_worker, answer, telltales
):
    higgsfield.files["junk.png"] = answer
    higgsfield.outcomes.append(Outcome("completed", result_url=f"{higgsfield.url}/files/junk.png"))
    generation = finish(run_worker, start(alice_api, **PROMPT_JOB))
    assert generation.status == "failed"
    assert generation.error == "The result was not an image or video we accept, so it was not kept."
    for telltale in telltales:
        assert telltale not in generation.error
    assert generation.result_id is None


# --- Webhook deliveries must name the job's request ---


@jobs
def test_a_delivery_without_the_jobs_request_id_is_refused_and_changes_nothing(
    higgsfield, internal, alice_api, run_worker
):
    generation = _submitted(higgsfield, alice_api, run_worker)
    other = _submitted(higgsfield, alice_api, run_worker, **{**PROMPT_JOB, "prompt": "another lighthouse"})
    result = {"images": [{"url": f"{higgsfield.url}/files/{generation.provider_request_id}.png"}]}
    for body in [
        {"status": "failed", "error": "GPU on fire"},
        {"status": "completed", **result},
        {"status": "completed", "payload": result},
        {"request_id": "", "status": "failed", "error": "GPU on fire"},
        {"request_id": other.provider_request_id, "status": "failed", "error": "GPU on fire"},
    ]:
        response = _deliver(generation, body)
        assert response.status_code == 400, body
        assert response.json() == {"detail": "The delivery does not match this job."}
    run_worker(lambda: True)
    after = Generation.objects.get(pk=generation.pk)
    assert (after.status, after.error, after.result_id, after.updated_at) == (
        "submitted",
        "",
        None,
        generation.updated_at,
    )


# --- The image a person hands to a job ---


def _upload(api) -> str:
    """An image uploaded as `api`'s person; its download URL (absolute, as the API gives it)."""
    data = png_bytes(80, 60)
    ticket = api.post(
        "/api/attachments/presign", {"file_name": "cat.png", "content_type": "image/png", "size": len(data)}
    ).json()
    assert Client().put(urlsplit(ticket["upload_url"]).path, data, content_type="image/png").status_code == 200
    return ticket["download_url"]


def _animate(api, image_url, prompt="my cat turns its head"):
    return api.post(
        "/api/generations",
        {"mode": "image-to-video", "model_name": "kling-2-5", "prompt": prompt, "image_url": image_url},
    )


@jobs
@pytest.mark.parametrize(
    "image_url",
    [
        "someone else's upload",
        "someone else's upload, by its path",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:8000/media/cat.png",
        "http://93.184.216.34/photo.png",  # public, but not https
        "/api/me",
    ],
)
def test_an_image_that_is_not_the_persons_nor_public_https_is_refused_before_anything_is_spent(
    alice, alice_api, bob_api, image_url
):
    if image_url.startswith("someone else's upload"):
        image_url = _upload(bob_api)
        if image_url.endswith("by its path"):
            image_url = urlsplit(image_url).path
    before = credits_balance(user=alice)
    response = _animate(alice_api, image_url)
    assert response.status_code == 422, response.content
    assert "The image must be one of your own uploads or results, or an https URL" in response.json()["detail"]
    assert not Generation.objects.filter(owner=alice).exists()
    assert credits_balance(user=alice) == before


@jobs
def test_the_persons_own_upload_and_a_public_https_image_are_taken(alice, alice_api):
    url = _upload(alice_api)
    assert url.startswith("http://testserver/")
    assert _animate(alice_api, url).status_code == 202
    assert _animate(alice_api, urlsplit(url).path, prompt="my cat blinks").status_code == 202
    assert _animate(alice_api, "https://93.184.216.34/cat.png", prompt="my cat yawns").status_code == 202
    assert Generation.objects.filter(owner=alice).count() == 3


@jobs
def test_a_reference_image_for_text_to_image_is_checked_too(alice, alice_api, bob_api):
    response = alice_api.post(
        "/api/generations",
        {"mode": "text-to-image", "model_name": "soul", "prompt": "a cat", "image_url": _upload(bob_api)},
    )
    assert response.status_code == 422
    assert not Generation.objects.filter(owner=alice).exists()
