"""Staff see generations in admin, filter them, and retry or cancel them in bulk."""

import pytest

from generation import credits, services
from generation.models import CreditAccount, Generation

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


# --- Credits: anyone can be found and given credits ---


def test_a_person_who_never_used_credits_is_found_in_credit_accounts(admin_client, bob):
    assert not CreditAccount.objects.filter(user=bob).exists()
    html = admin_client.get("/admin/generation/creditaccount/").content.decode()
    assert "not used credits yet" in html  # the list says where the others are
    html = admin_client.get("/admin/generation/creditaccount/?q=bo").content.decode()
    assert "No account yet" in html and "bob" in html
    assert f'href="/admin/generation/creditaccount/add/?user={bob.pk}"' in html


def test_the_first_adjustment_makes_the_account_with_the_starting_balance(admin_client, bob, settings):
    form = admin_client.get(f"/admin/generation/creditaccount/add/?user={bob.pk}").content.decode()
    assert f'value="{bob.pk}"' in form  # the person is filled in
    response = admin_client.post(
        "/admin/generation/creditaccount/add/", {"user": bob.pk, "adjust_by": 50, "note": "Welcome gift"}
    )
    assert response.status_code == 302
    account = CreditAccount.objects.get(user=bob)
    assert account.balance == settings.CREDITS_START + 50
    assert [(e.reason, e.amount) for e in account.entries.order_by("id")] == [
        ("grant", settings.CREDITS_START),
        ("adjust", 50),
    ]
    # Found now among the accounts, no longer among the people without one.
    html = admin_client.get("/admin/generation/creditaccount/?q=bob").content.decode()
    assert f"/admin/generation/creditaccount/{account.pk}/change/" in html
    assert "No account yet" not in html


def test_a_persons_page_links_to_their_credits(admin_client, alice, bob):
    credits.credits_adjust(user=alice, amount=5, note="Thanks")
    account = CreditAccount.objects.get(user=alice)
    alice_page = admin_client.get(f"/admin/chats/user/{alice.pk}/change/").content.decode()
    assert f'href="/admin/generation/creditaccount/{account.pk}/change/">Adjust credits' in alice_page
    bob_page = admin_client.get(f"/admin/chats/user/{bob.pk}/change/").content.decode()
    assert f'href="/admin/generation/creditaccount/add/?user={bob.pk}">Adjust credits' in bob_page
    people = admin_client.get("/admin/chats/user/").content.decode()
    assert people.count("Adjust credits") >= 3  # alice, bob and the admin
