"""Staff view of generation jobs: filters by status, model and person; retry and cancel in bulk."""

from django.contrib import admin, messages

from . import services
from .models import Generation


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
        self._each(request, queryset, services.generation_retry, "retried")

    @admin.action(description="Cancel selected (while still waiting)")
    def cancel_selected(self, request, queryset):
        self._each(request, queryset, services.generation_cancel, "cancelled")
