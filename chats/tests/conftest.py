"""Fixtures for the chats tests: an S3 stand-in (moto's server) on loopback."""

import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on 127.0.0.1, for the uploads that go to a bucket; its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
