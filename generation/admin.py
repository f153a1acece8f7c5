"""Staff view of generation jobs (filters by status, model and person; retry and cancel in bulk) and of
credits (balances, the ledger, adjustments with a note; anyone can be found, with an account or not)."""

from functools import partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import credits, services
from .models import CreditAccount, CreditEntry, Generation, SubmissionPool


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "model_key", "status", "stage", "provider", "attempts", "created_at")
    list_filter = ("status", "model_key", "kind", "provider", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("id", "owner__username", "provider_request_id", "prompt")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "option", "chat", "retry_of", "result")
    date_hierarchy = "created_at"
    exclude = ("webhook_token", "track_token")
    readonly_fields = [f.name for f in Generation._meta.fields if f.name not in ("webhook_token", "track_token")]
    actions = ["retry_selected", "cancel_selected"]

    def has_add_permission(self, request):
        return False

    def _each(self, request, queryset, service, done_word: str) -> None:
        done = refused = 0
        for generation in queryset:
            try:
                service(generation=generation)
                done += 1
            except services.GenerationError:
                refused += 1
        self.message_user(request, f"{done} {done_word}, {refused} could not be.", messages.INFO)

    @admin.action(description="Retry selected (failed, nsfw, cancelled or timed out)")
    def retry_selected(self, request, queryset):
        # Staff retrying after an outage are not held to the person's rate limit; each retry is still charged.
        self._each(request, queryset, partial(services.generation_retry, rate_limited=False), "retried")

    @admin.action(description="Cancel selected (while still waiting)")
    def cancel_selected(self, request, queryset):
        self._each(request, queryset, services.generation_cancel, "cancelled")


@admin.register(SubmissionPool)
class SubmissionPoolAdmin(admin.ModelAdmin):
    """Our Higgsfield slots (generation.pool): how many are in use, how many jobs wait, the capacity refusals.
    Staff may clear a lowered limit (empty: HIGGSFIELD_CONCURRENCY again)."""

    list_display = ("name", "slots", "in_use", "waiting", "refusals", "refusal_streak", "paused_until")
    fields = (
        "name",
        "slots",
        "limit",
        "in_use",
        "waiting",
        "refusals",
        "refusal_streak",
        "paused_until",
        "last_refusal_at",
        "limit_changed_at",
    )
    readonly_fields = (
        "name",
        "slots",
        "in_use",
        "waiting",
        "refusals",
        "refusal_streak",
        "paused_until",
        "last_refusal_at",
        "limit_changed_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="slots now")
    def slots(self, pool):
        configured = settings.HIGGSFIELD_CONCURRENCY
        return f"{min(pool.limit, configured)} (lowered from {configured})" if pool.limit else str(configured)

    @admin.display(description="in use")
    def in_use(self, pool):
        return Generation.objects.filter(
            provider=pool.name, status__in=Generation.HOLDING, provider_done_at__isnull=True
        ).count()

    @admin.display(description="jobs waiting")
    def waiting(self, pool):
        return Generation.objects.filter(provider=pool.name, status=Generation.Status.WAITING).count()


class CreditAccountForm(forms.ModelForm):
    adjust_by = forms.IntegerField(
        required=False, label="Add or take away", help_text="Credits: 50 grants fifty, -20 takes twenty back."
    )
    note = forms.CharField(required=False, max_length=200, help_text="Why, for the ledger.")

    class Meta:
        model = CreditAccount
        fields = ("user",)

    def clean(self):
        data = super().clean()
        amount = data.get("adjust_by")
        user = self.instance.user if self.instance.pk else data.get("user")
        if amount and user is not None:
            try:
                credits.adjustment_check(
                    balance=credits.credits_balance(user=user), amount=amount, note=data.get("note", "")
                )
            except credits.CreditError as exc:
                raise ValidationError({exc.field: str(exc)}) from None
        return data


def adjust_credits_url(user) -> str:
    """Where staff adjust a person's credits: their account, or a new one (made, with the starting grant, on the
    first adjustment) for someone who has never used credits."""
    try:
        return reverse("admin:generation_creditaccount_change", args=[user.credit_account.pk])
    except ObjectDoesNotExist:
        return reverse("admin:generation_creditaccount_add") + f"?user={user.pk}"


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    """Balances, and a form to grant or take back credits; every change is a ledger entry by credits_adjust.

    A person gets an account on their first charge or adjustment: a search here also finds the people who have
    none yet, each with a link to adjust theirs.
    """

    form = CreditAccountForm
    PEOPLE_FOUND = 20
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("user__username",)
    LEDGER_ROWS = 50

    def get_readonly_fields(self, request, obj=None):
        # The person is chosen when the account is made (a grant to someone who has none yet), then fixed.
        return ("user", "balance", "ledger") if obj else ()

    def get_fields(self, request, obj=None):
        return ("user", "balance", "adjust_by", "note", "ledger") if obj else ("user", "adjust_by", "note")

    @admin.display(description="Latest entries")
    def ledger(self, obj):
        entries = obj.entries.select_related("staff").order_by("-created_at", "-id")[: self.LEDGER_ROWS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.get_reason_display(),
                    f"{e.amount:+d}",
                    e.balance_after,
                    e.generation_id or "",
                    e.note,
                    e.staff or "",
                )
                for e in entries
            ),
        )
        return format_html(
            "<table><tr><th>When</th><th>Reason</th><th>Amount</th><th>Balance after</th><th>Generation</th>"
            "<th>Note</th><th>Staff</th></tr>{}</table>",
            rows,
        )

    def has_delete_permission(self, request, obj=None):
        # The ledger goes with an account; a balance is brought to zero with an adjustment instead.
        return False

    def changelist_view(self, request, extra_context=None):
        people = get_user_model().objects.filter(credit_account__isnull=True)
        query = request.GET.get("q", "").strip()
        extra = {"credits_start": settings.CREDITS_START, "without_account_count": people.count()}
        if query:
            found = people.filter(Q(username__icontains=query) | Q(email__icontains=query)).order_by("username")
            extra["people_without_account"] = [
                (person, adjust_credits_url(person)) for person in found[: self.PEOPLE_FOUND]
            ]
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def save_model(self, request, obj, form, change):
        # Never a plain save: the balance only moves through the ledger.
        amount, note = form.cleaned_data.get("adjust_by"), form.cleaned_data.get("note", "")
        if amount:
            try:
                credits.credits_adjust(user=obj.user, amount=amount, staff=request.user, note=note)
            except credits.CreditError as exc:  # the balance moved since the form was checked
                self.message_user(request, str(exc), messages.ERROR)
        account = credits.credits_open(user=obj.user)
        obj.pk, obj.balance = account.pk, account.balance


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    """The ledger, read only: every charge, refund, grant and adjustment."""

    list_display = ("created_at", "account", "reason", "amount", "balance_after", "generation", "staff", "note")
    list_filter = ("reason",)
    search_fields = ("account__user__username", "note", "generation__id")
    list_select_related = ("account__user", "staff")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from . import catalogue_admin  # noqa: F401,E402  (styles and motions)
