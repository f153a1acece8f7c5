"""The browser pages: the chat, its fragments for htmx, the gallery and the account pages."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views, chat_views, conversation_views, gallery_views, generation_views, option_views

urlpatterns = [
    path("", chat_views.home, name="home"),
    path("chats/new/", chat_views.chat_new, name="chat_new"),
    path("chats/start/", chat_views.chat_start, name="chat_start"),
    path("chats/<uuid:chat_id>/", chat_views.chat_detail, name="chat_detail"),
    path("chats/<uuid:chat_id>/rename/", chat_views.chat_rename, name="chat_rename"),
    path("chats/<uuid:chat_id>/delete/", chat_views.chat_delete, name="chat_delete"),
    path("chats/<uuid:chat_id>/messages/", chat_views.message_create, name="message_create"),
    path("messages/<uuid:message_id>/stream/", chat_views.reply_stream, name="reply_stream"),
    path("messages/<uuid:message_id>/retry/", chat_views.reply_retry, name="reply_retry"),
    path("messages/<uuid:message_id>/stop/", conversation_views.reply_stop, name="reply_stop"),
    path("messages/<uuid:message_id>/edit/", conversation_views.message_edit, name="message_edit"),
    path("chats/search/", conversation_views.chat_search, name="chat_search"),
    path("options/<uuid:option_id>/generate/", generation_views.option_generate, name="option_generate"),
    path("options/<uuid:option_id>/controls/", option_views.option_controls, name="option_controls"),
    path("generations/<uuid:generation_id>/", generation_views.generation_detail, name="generation_detail"),
    path("generations/<uuid:generation_id>/cancel/", generation_views.generation_cancel, name="generation_cancel"),
    path("generations/<uuid:generation_id>/retry/", generation_views.generation_retry, name="generation_retry"),
    path("generations/<uuid:generation_id>/take/", generation_views.generation_take, name="generation_take"),
    path("generations/<uuid:generation_id>/animate/", generation_views.generation_animate, name="generation_animate"),
    path("generations/<uuid:generation_id>/download/", gallery_views.generation_download, name="generation_download"),
    path("gallery/", gallery_views.gallery, name="gallery"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
]
