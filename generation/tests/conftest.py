"""Fixtures for generation tests: quick clocks and the fake Higgsfield (the in-process worker: root conftest)."""

import pytest

from generation.tests.fake_higgsfield import FakeHiggsfield


@pytest.fixture(autouse=True)
def fast_clocks(fast_generation):
    """Every generation test runs on quick clocks (see fast_generation in the root conftest)."""


@pytest.fixture
def higgsfield(settings):
    server = FakeHiggsfield(key_id="test-id", key_secret="test-secret").start()
    settings.HIGGSFIELD_KEY_ID = "test-id"
    settings.HIGGSFIELD_KEY_SECRET = "test-secret"
    settings.HIGGSFIELD_BASE_URL = server.url
    settings.HIGGSFIELD_TIMEOUT = 2.0
    yield server
    server.stop()
