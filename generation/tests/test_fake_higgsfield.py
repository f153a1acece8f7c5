"""The fake Higgsfield platform, proven over loopback with httpx and a webhook receiver of our own."""

import asyncio
import json
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import httpx
import pytest
from PIL import Image

from generation.tests.fake_higgsfield import FakeHiggsfield, Outcome, is_video_model, mp4_bytes, png_bytes

SOUL = "higgsfield-ai/soul/standard"
KLING = "kling-video/v2.5/turbo/image-to-video"


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
    request_id = httpx.post(f"{server.url}/{SOUL}", json={}, headers=server.auth_headers).json()["request_id"]
    wrong = [
        {},
        {"Authorization": "Key test-id:wrong"},
        {"Authorization": "Bearer test-id:test-secret"},
        {"hf-api-key": "test-id", "hf-secret": "test-secret"},
    ]
    for headers in wrong:
        for method, path in [
            ("POST", f"/{SOUL}"),
            ("GET", f"/requests/{request_id}/status"),
            ("POST", f"/requests/{request_id}/cancel"),
            ("GET", "/v1/motions"),
        ]:
            response = httpx.request(method, f"{server.url}{path}", json={}, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert isinstance(response.json()["detail"], str)
    assert len(server.submissions) == 1
    assert server.cancels == []


def test_it_takes_other_keys_when_configured():
    with FakeHiggsfield(key_id="abc", key_secret="xyz") as fake:
        ok = httpx.post(f"{fake.url}/{SOUL}", json={}, headers={"Authorization": "Key abc:xyz"})
        refused = httpx.post(f"{fake.url}/{SOUL}", json={}, headers={"Authorization": "Key test-id:test-secret"})
    assert ok.status_code == 200
    assert refused.status_code == 401


# Lifecycle and results


def test_an_image_request_goes_queued_then_in_progress_then_completed_with_a_png(server, client):
    server.queue_seconds = 0.3
    server.work_seconds = 0.3

    answer = submit(client, SOUL, {"prompt": "a rainy street", "width_and_height": "1536x1536"})

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
        {"prompt": "a rainy street", "width_and_height": "1536x1536"},
        None,
    )
    assert status_of(client, request_id)["status"] == "queued"
    wait_until(sub.submitted_at + 0.45)
    assert status_of(client, request_id)["status"] == "in_progress"
    assert request_id not in server.complete_times
    wait_until(sub.submitted_at + 0.65)
    done = status_of(client, request_id)
    assert done["status"] == "completed"
    assert done["request_id"] == request_id
    assert "video" not in done
    [image] = done["images"]
    assert server.complete_times[request_id] == pytest.approx(sub.submitted_at + 0.6)
    assert server.status_calls[request_id] == 3

    file = httpx.get(image["url"])  # no key, like a CDN URL
    assert file.status_code == 200
    assert file.headers["content-type"] == "image/png"
    picture = Image.open(BytesIO(file.content))
    assert (picture.format, picture.size) == ("PNG", (64, 48))


def test_a_video_request_completes_with_an_mp4_that_carries_its_duration_and_size(server, client):
    request_id = submit(client, KLING, {"image_url": "https://example.com/a.png"})["request_id"]

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


def test_a_submit_needs_a_json_object(client):
    response = client.post(f"/{SOUL}", content=b"[1, 2]")
    assert response.status_code == 400
    assert "detail" in response.json()


# Cancel


def test_it_cancels_while_queued_and_refuses_after_the_start(server, client):
    server.queue_seconds = 0.3
    server.work_seconds = 10
    early, late = submit(client)["request_id"], submit(client)["request_id"]

    canceled = client.post(f"/requests/{early}/cancel")
    assert canceled.status_code == 202
    assert status_of(client, early)["status"] == "canceled"
    assert early in server.complete_times

    wait_until(server.submission(late).submitted_at + 0.35)
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
    assert post["at"] - server.complete_times[request_id] < 0.1
    [delivery] = server.webhook_deliveries
    assert (delivery.request_id, delivery.attempt, delivery.status, delivery.error) == (request_id, 1, 200, None)
    assert server.submissions[0].webhook_url == receiver.url("/hooks/higgsfield?token=s3cret")


def test_it_retries_a_webhook_the_receiver_refused():
    with Receiver(statuses=[500]) as receiver, FakeHiggsfield(webhook_retry_seconds=0.05) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            server.outcomes.append("failed")
            submit(client, webhook=receiver.url())
            first, second = receiver.wait_for(2)
            assert server.wait_for_webhooks(2)

    assert second["at"] - first["at"] >= 0.05
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
    with Receiver() as receiver, FakeHiggsfield(queue_seconds=0.2, work_seconds=0.1) as server:
        with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
            request_id = submit(client, webhook=receiver.url())["request_id"]
            client.post(f"/requests/{request_id}/cancel")
            receiver.wait_for(1)
            assert server.wait_for_webhooks(0.1)  # nothing left armed for the time it would have completed
            time.sleep(0.4)  # past that time

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

    answers = [client.post(f"/{SOUL}", json={}) for _ in range(6)]

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
    server.slow_next("submit", 0.5)

    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/{SOUL}", json={}, timeout=0.1)
    started = time.monotonic()
    assert client.post(f"/{SOUL}", json={}).status_code == 200
    assert time.monotonic() - started < 0.1


def test_slow_next_then_answers(server, client):
    request_id = submit(client)["request_id"]
    server.slow_next("status", 0.2, times=2)

    started = time.monotonic()
    status_of(client, request_id)
    status_of(client, request_id)
    assert time.monotonic() - started >= 0.4


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
        httpx.post(f"{base}/{SOUL}", json={}, params={"hf_webhook": receiver.url()}, headers=headers)
        server.work_seconds = 60
        httpx.post(f"{base}/{SOUL}", json={}, params={"hf_webhook": receiver.url()}, headers=headers)
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

        started = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - started
        hanging.join(5)

    assert stopped_in < 1.0
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
        assert httpx.post(f"{server.url}/{SOUL}", json={}, headers=server.auth_headers).status_code == 200
    assert fake_threads() == []
    assert first  # the port may differ between runs
