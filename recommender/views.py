"""The "What Higgs learned" page: the person's own taste as the recommender reads it, and its reset."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from chats.pages import sidebar_chats

from .taste import MIN_CHOICES, taste_get, taste_reset, taste_summary

GROUPS = [("styles", "Styles"), ("motions", "Motions"), ("models", "Models"), ("formats", "Formats")]
SHOWN = 5


@login_required
@require_GET
def taste(request):
    summary = taste_summary(taste_get(owner=request.user))
    groups = [(title, summary[key][:SHOWN]) for key, title in GROUPS if summary[key]]
    context = {"taste": summary, "groups": groups, "min_choices": MIN_CHOICES, "chats": sidebar_chats(request.user)}
    return render(request, "recommender/taste.html", context)


@login_required
@require_POST
def taste_forget(request):
    taste_reset(owner=request.user)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("taste"))
    return redirect("taste")
