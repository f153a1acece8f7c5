"""Forms of the browser pages: accounts (with a limit on failed log-ins), chat titles, messages, generating."""

import hashlib

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.core.cache import cache

from generation.model_catalogue import model_list
from generation.model_schema import KINDS

from .services import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH


class SignupForm(auth_forms.UserCreationForm):
    class Meta(auth_forms.UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


def _failures_key(request, username: str) -> str:
    who = f"{(username or '').strip().lower()}|{request.META.get('REMOTE_ADDR', '') if request else ''}"
    return "login-failures:" + hashlib.sha256(who.encode()).hexdigest()


class LoginForm(auth_forms.AuthenticationForm):
    """Django's log-in form, locked for a while after too many failures for one username from one address."""

    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "locked": "Too many failed log-ins. Wait %(minutes)d minutes and try again, or ask for help.",
    }

    def clean(self):
        key = _failures_key(self.request, self.data.get("username", ""))
        if cache.get(key, 0) >= settings.LOGIN_FAILURE_LIMIT:
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
            try:
                cache.incr(key)
            except ValueError:  # expired in between
                cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)
            raise
        cache.delete(key)
        return cleaned


class RenameForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX_LENGTH, label="Chat title")


# The composer's words for the kinds of result.
MODE_LABELS = {"text_to_image": "Image", "text_to_video": "Video from text", "image_to_video": "Video from my image"}
MODES = [(kind, MODE_LABELS[kind]) for kind in KINDS]


def composer_model_groups():
    """The models the composer offers, by kind: (kind, its label, its models); the form and the template."""
    return [(kind, label, model_list(kind=kind)) for kind, label in MODES]


def _model_choices():
    groups = [(label, [(m.key, m.label) for m in models]) for _kind, label, models in composer_model_groups()]
    return [("", "Any model"), *groups]


class MessageForm(forms.Form):
    """The composer: text, an uploaded image (its download URL), and an optional preferred mode and model."""

    text = forms.CharField(max_length=MESSAGE_MAX_LENGTH, label="Message", strip=True, required=False)
    attachment_url = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    mode = forms.ChoiceField(label="Mode", required=False, choices=[("", "Any mode"), *MODES])
    # A name checked by the service (which also knows the names older clients send): the list of models is
    # read when the composer is drawn, never while an async view validates a post.
    model = forms.CharField(label="Model", required=False, max_length=64, widget=forms.Select(choices=_model_choices))

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("text") and not cleaned.get("attachment_url"):
            raise forms.ValidationError("Write what you would like to make, or attach an image.")
        return cleaned

    def post_arguments(self) -> dict:
        """The arguments of chats.services.message_post_begin."""
        url = self.cleaned_data["attachment_url"]
        return {
            "text": self.cleaned_data["text"],
            "attachment_urls": [url] if url else [],
            "preferred_kind": self.cleaned_data["mode"],
            "preferred_model": self.cleaned_data["model"],
        }

    def error_text(self) -> str:
        return " ".join(str(e) for errors in self.errors.values() for e in errors)


class GenerateForm(forms.Form):
    """The model to generate an option with: one of the models of the option's kind (the option's by default)."""

    model = forms.ChoiceField(label="Model", required=False)
    prompt = forms.CharField(label="Prompt", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, option, **kwargs):
        kwargs.setdefault("auto_id", f"%s-{option.pk}")  # several options share a page
        super().__init__(*args, **kwargs)
        self.option = option
        self.fields["model"].choices = [(m.key, m.label) for m in model_list(kind=option.kind)]
        self.fields["model"].initial = option.model_key
        self.fields["prompt"].initial = option.enhanced_prompt

    def model_key(self) -> str:
        return self.cleaned_data.get("model") or self.option.model_key

    def refusal(self) -> str:
        """What is wrong with an invalid form, for the option card."""
        return "Pick one of the models offered." if "model" in self.errors else "The prompt is too long."

    def prompt_text(self) -> str | None:
        """The prompt as edited, or None to use the option's own."""
        return self.cleaned_data.get("prompt") or None
