"""The portal's start page, outside the `onboarding` namespace so that it stays `home`."""

from django.urls import path

from onboarding import views

urlpatterns = [path("", views.HomeView.as_view(), name="home")]
