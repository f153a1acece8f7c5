"""Tests for the style and motion admin: changelist, search, actions, and the Higgsfield id on add and change."""

import uuid

import pytest
from django.urls import reverse

from generation.models import Motion, Style


def make_style(**fields):
    defaults = {"id": uuid.uuid4(), "name": "Sunset beach", "description": "Warm low sunlight."}
    return Style.objects.create(**(defaults | fields))


def make_motion(**fields):
    defaults = {
        "id": uuid.uuid4(),
        "name": "Dolly In",
        "description": "The camera glides in.",
        "start_end_frame": True,
    }
    return Motion.objects.create(**(defaults | fields))


def post_action(client, model, action, entries):
    url = reverse(f"admin:generation_{model}_changelist")
    data = {"action": action, "_selected_action": [str(entry.pk) for entry in entries]}
    return client.post(url, data, follow=True)


@pytest.mark.django_db
def test_the_style_changelist_shows_names_and_preview_thumbnails(admin_client):
    make_style(name="With preview", preview_url="https://cdn.example.com/a.webp")
    make_style(name="Without preview")

    response = admin_client.get(reverse("admin:generation_style_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "With preview" in content
    assert "Without preview" in content
    assert '<img src="https://cdn.example.com/a.webp"' in content
    assert 'height="48"' in content
    assert "—" in content


@pytest.mark.django_db
def test_the_motion_changelist_filters_on_start_end_frame(admin_client):
    make_motion(name="Two frames", start_end_frame=True)
    make_motion(name="One frame", start_end_frame=False)

    response = admin_client.get(reverse("admin:generation_motion_changelist"), {"start_end_frame__exact": "0"})

    assert response.status_code == 200
    assert "One frame" in response.content.decode()
    assert "Two frames" not in response.content.decode()


@pytest.mark.django_db
def test_search_finds_by_name_description_and_id(admin_client):
    street = make_style(name="Tokyo Streetstyle", description="Magenta signs on wet streets.")
    make_style(name="Artwork", description="Pigment blooms on paper.")
    url = reverse("admin:generation_style_changelist")

    for query in ["tokyo", "magenta", str(street.pk)]:
        response = admin_client.get(url, {"q": query})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [street], query


@pytest.mark.django_db
def test_the_disable_action_disables_the_selected_and_says_how_many(admin_client):
    first, second = make_style(name="First"), make_style(name="Second")
    untouched = make_style(name="Untouched")

    response = post_action(admin_client, "style", "disable_selected", [first, second])

    assert response.status_code == 200
    assert "Disabled 2 styles." in response.content.decode()
    assert list(Style.objects.filter(enabled=False).order_by("name")) == [first, second]
    untouched.refresh_from_db()
    assert untouched.enabled is True


@pytest.mark.django_db
def test_the_enable_action_counts_only_the_entries_it_changed(admin_client):
    off = make_motion(name="Off", enabled=False)
    already_on = make_motion(name="On")

    response = post_action(admin_client, "motion", "enable_selected", [off, already_on])

    assert "Enabled 1 motion. 1 already enabled." in response.content.decode()
    off.refresh_from_db()
    assert off.enabled is True


@pytest.mark.django_db
def test_the_id_can_be_set_on_add(admin_client):
    higgsfield_id = uuid.uuid4()

    response = admin_client.post(
        reverse("admin:generation_motion_add"),
        {
            "id": str(higgsfield_id),
            "name": "Crane Up",
            "description": "Focus shifts from front to back.",
            "preview_url": "",
            "enabled": "on",
            "sort_order": "3",
            "start_end_frame": "on",
        },
    )

    assert response.status_code == 302
    motion = Motion.objects.get(pk=higgsfield_id)
    assert (motion.name, motion.sort_order, motion.start_end_frame) == ("Crane Up", 3, True)


@pytest.mark.django_db
def test_adding_an_existing_id_is_refused_and_leaves_the_entry_alone(admin_client):
    existing = make_style(name="Original")

    response = admin_client.post(
        reverse("admin:generation_style_add"),
        {"id": str(existing.pk), "name": "Impostor", "description": "", "preview_url": "", "sort_order": "0"},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    existing.refresh_from_db()
    assert existing.name == "Original"
    assert Style.objects.count() == 1


@pytest.mark.django_db
def test_the_id_is_read_only_on_the_change_page(admin_client):
    style = make_style(name="Before")
    url = reverse("admin:generation_style_change", args=[style.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    assert str(style.pk) in page.content.decode()
    assert 'name="id"' not in page.content.decode()

    response = admin_client.post(
        url,
        {
            "id": str(uuid.uuid4()),
            "name": "After",
            "description": "",
            "preview_url": "",
            "enabled": "on",
            "sort_order": "1",
        },
    )

    assert response.status_code == 302
    assert list(Style.objects.values_list("pk", "name")) == [(style.pk, "After")]


@pytest.mark.django_db
def test_the_changelist_edits_enabled_and_sort_order_in_place(admin_client):
    style = make_style(name="Editable", sort_order=5)

    response = admin_client.post(
        reverse("admin:generation_style_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(style.pk),
            "form-0-sort_order": "9",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    style.refresh_from_db()
    assert (style.enabled, style.sort_order) == (False, 9)
