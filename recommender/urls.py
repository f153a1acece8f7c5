from django.urls import path

from . import views

urlpatterns = [
    path("taste/", views.taste, name="taste"),
    path("taste/reset/", views.taste_forget, name="taste_reset"),
]
