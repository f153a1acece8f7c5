"""Staff views of people, chats, messages, options, attachments and API tokens."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ObjectDoesNotExist
from django.template.response import TemplateResponse
from django.utils.html import format_html

from . import services
from .forms import AdminLoginForm
from .models import ApiToken, Attachment, Chat, Message, Option, User

# The admin's log-in counts failed log-ins with the pages' (chats.lockout): one limit for both doors.
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "date_joined", "credits")
    list_select_related = ("credit_account",)
    readonly_fields = ("credits",)
    fieldsets = (*BaseUserAdmin.fieldsets, ("Credits", {"fields": ("credits",)}))

    @admin.display(description="Credits")
    def credits(self, obj):
        from generation.admin import adjust_credits_url

        try:
            balance = obj.credit_account.balance  # selected with the person
        except ObjectDoesNotExist:
            balance = settings.CREDITS_START  # waiting for their first use
        return format_html('{} · <a href="{}">Adjust credits</a>', balance, adjust_credits_url(obj))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, raw = services.api_token_create(user=obj.user, name=obj.name)
        obj.pk = token.pk
        obj.refresh_from_db()
        # Shown once, in this response only: never in a message cookie, a log or a later page.
        request._api_token_raw = raw

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_api_token_raw", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "token": obj, "raw": raw, "opts": self.opts}
        response = TemplateResponse(request, "admin/chats/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response


class OptionInline(admin.TabularInline):
    model = Option
    extra = 0
    fields = ("position", "kind", "model_key", "style", "motion", "reason", "result_url")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("position", "author_type", "status", "content_text", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    ordering = ("position",)


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "message_count", "last_message_at", "created_at")
    search_fields = ("title", "owner__username", "id")
    list_select_related = ("owner",)
    readonly_fields = ("id", "message_count", "last_message_at", "created_at", "updated_at")
    raw_id_fields = ("owner",)
    inlines = [MessageInline]
    date_hierarchy = "created_at"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("__str__", "author_type", "status", "recommender", "created_at")
    list_filter = ("author_type", "status", "recommender")
    search_fields = ("content_text", "chat__title", "id")
    list_select_related = ("chat",)
    raw_id_fields = ("chat",)
    readonly_fields = ("id", "position", "created_at", "updated_at")
    inlines = [OptionInline]


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "model_key", "style", "motion", "created_at")
    list_filter = ("kind", "model_key")
    search_fields = ("enhanced_prompt", "reason", "id")
    list_select_related = ("style", "motion")
    raw_id_fields = ("message", "style", "motion")
    readonly_fields = ("id", "created_at")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "kind", "mime", "size_bytes", "owner", "chat", "created_at")
    list_filter = ("kind", "mime")
    search_fields = ("file", "owner__username", "id")
    list_select_related = ("owner", "chat")
    raw_id_fields = ("owner", "chat", "message", "option")
    readonly_fields = ("id", "created_at")

    @admin.display(description="Preview")
    def thumbnail(self, obj):
        if obj.kind == Attachment.Kind.IMAGE and obj.file:
            return format_html('<img src="{}" alt="" style="height:48px">', obj.file.url)
        return "—"
