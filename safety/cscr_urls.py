from django.urls import path

from safety import cscr_views as views

app_name = "cscr"
urlpatterns = [
    path("deployments/<int:pk>/safety-case/", views.BundleListView.as_view(), name="bundle-list"),
    path("deployments/<int:pk>/safety-case/request/", views.BundleRequestView.as_view(), name="bundle-request"),
    path("safety-case/bundles/<int:pk>/", views.BundleJobDetailView.as_view(), name="job-detail"),
    path("safety-case/bundles/<int:pk>/progress/", views.BundleJobProgressView.as_view(), name="job-progress"),
    path("safety-case/bundles/<int:pk>/download/", views.BundleDownloadView.as_view(), name="job-download"),
    path("safety-case/verify/", views.BundleVerifyView.as_view(), name="verify"),
]
