"""Fixtures for recommender tests: the fake Anthropic server, with the settings pointing at it."""

import pytest

from recommender.tests.fake_anthropic import FakeAnthropic


@pytest.fixture
def claude(settings):
    server = FakeAnthropic(api_key="test-key").start()
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = server.url
    settings.ANTHROPIC_MAX_RETRIES = 2
    settings.ANTHROPIC_TIMEOUT = 5
    yield server
    server.stop()
