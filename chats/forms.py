"""Forms of the browser pages: accounts (with a limit on failed log-ins), chat titles, messages, generating."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model

from generation.model_catalogue import model_list
from generation.model_schema import KINDS

from . import lockout
from .services import TITLE_MAX_LENGTH, ServiceError, message_text_clean


class SignupForm(auth_forms.UserCreationForm):
    class Meta(auth_forms.UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


LOCKED = "Too many failed log-ins. Wait %(minutes)d minutes and try again, or ask for help."


class _LockedAfterFailures:
    """Refuses a log-in before its password is checked when the name or the address has too many recent
    failures (chats.lockout, in the database: one count for every process, for the pages and the admin)."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # no password is checked: nothing to count
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        try:
            lockout.login_attempt_begin(username=username, address=address)
        except lockout.LoginLocked:
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            ) from None
        try:
            return super().clean()
        finally:
            # A right password clears the name, even when the account may not log in here (the admin's, not staff).
            if self.user_cache is not None:
                lockout.login_succeeded(username=username)


class LoginForm(_LockedAfterFailures, auth_forms.AuthenticationForm):
    """Django's log-in form, locked for a while after too many failures for one name or from one address."""

    error_messages = {**auth_forms.AuthenticationForm.error_messages, "locked": LOCKED}


class AdminLoginForm(_LockedAfterFailures, AdminAuthenticationForm):
    """The admin's log-in form, with the same lock-out as the pages' (and the same counts)."""

    error_messages = {**AdminAuthenticationForm.error_messages, "locked": LOCKED}


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

    # Its length is the service's rule (message_text_clean), refused in the service's words.
    text = forms.CharField(label="Message", strip=True, required=False)
    attachment_url = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    mode = forms.ChoiceField(label="Mode", required=False, choices=[("", "Any mode"), *MODES])
    # A name checked by the service (which also knows the names older clients send): the list of models is
    # read when the composer is drawn, never while an async view validates a post.
    model = forms.CharField(label="Model", required=False, max_length=64, widget=forms.Select(choices=_model_choices))

    def clean_text(self):
        try:
            return message_text_clean(self.cleaned_data["text"])
        except ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        if "text" in cleaned and not cleaned["text"] and not cleaned.get("attachment_url"):
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
    """The model to generate an option with (one of the models of the option's kind, the option's by default),
    the prompt as edited, and the settings the card offers for that model (chats.option_cards)."""

    model = forms.ChoiceField(label="Model", required=False)
    prompt = forms.CharField(label="Prompt", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, option, **kwargs):
        kwargs.setdefault("auto_id", f"%s-{option.pk}")  # several options share a page
        super().__init__(*args, **kwargs)
        self.option = option
        self._models = None
        # Read when a post is checked, not when a page builds a form per card (the card reads models once a page).
        self.fields["model"].choices = lambda: [(m.key, m.label) for m in self.models()]
        self.fields["model"].initial = option.model_key
        self.fields["prompt"].initial = option.enhanced_prompt

    def models(self) -> list:
        if self._models is None:
            self._models = model_list(kind=self.option.kind)
        return self._models

    def model_key(self) -> str:
        return self.cleaned_data.get("model") or self.option.model_key

    def refusal(self) -> str:
        """What is wrong with an invalid form, for the option card."""
        return "Pick one of the models offered." if "model" in self.errors else "The prompt is too long."

    def prompt_text(self) -> str | None:
        """The prompt as edited, or None to use the option's own."""
        return self.cleaned_data.get("prompt") or None

    def parameters(self) -> dict:
        """The settings chosen on the card, typed for the chosen model; checked by the service that generates."""
        from .option_cards import parameters_from_form

        model = next((m for m in self.models() if m.key == self.model_key()), None)
        return parameters_from_form(model, self.data) if model is not None else {}
