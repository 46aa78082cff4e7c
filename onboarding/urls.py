from django.urls import path

from onboarding import views

app_name = "onboarding"
urlpatterns = [
    path("", views.DeploymentListView.as_view(), name="deployment-list"),
    path("new/", views.DeploymentCreateView.as_view(), name="deployment-create"),
    path("<int:pk>/", views.DeploymentDetailView.as_view(), name="deployment-detail"),
    path("<int:pk>/stage/", views.DeploymentStageChangeView.as_view(), name="deployment-stage"),
]
