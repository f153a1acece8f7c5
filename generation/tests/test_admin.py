"""Staff see generations in admin, filter them, and retry or cancel them in bulk."""

import pytest

from generation import services
from generation.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(alice):
    return services.generation_request(owner=alice, kind="text_to_image", model_key="soul", prompt="a red fox")[0]


def test_the_changelist_filters_by_status_model_and_person(admin_client, queued):
    for query in (
        "",
        "?status__exact=queued",
        "?model_key__exact=soul",
        f"?q={queued.owner.username}",
        f"?owner__id__exact={queued.owner_id}",
    ):
        response = admin_client.get(f"/admin/generation/generation/{query}")
        assert response.status_code == 200
        assert str(queued.pk) in response.content.decode()
    assert str(queued.pk) not in admin_client.get("/admin/generation/generation/?status__exact=failed").content.decode()


def test_the_detail_page_hides_the_webhook_token(admin_client, queued):
    html = admin_client.get(f"/admin/generation/generation/{queued.pk}/change/").content.decode()
    assert queued.webhook_token not in html


def test_bulk_cancel_and_retry(admin_client, queued):
    url = "/admin/generation/generation/"
    admin_client.post(url, {"action": "cancel_selected", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    admin_client.post(url, {"action": "retry_selected", "_selected_action": [queued.pk]})
    retry = Generation.objects.get(retry_of=queued)
    assert retry.status == "queued"


def test_people_who_are_not_staff_cannot_see_generations(client, alice, queued):
    client.force_login(alice)
    assert client.get("/admin/generation/generation/").status_code == 302
