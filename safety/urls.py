from django.urls import path

from safety import views
from safety.lifecycle.urls import urlpatterns as lifecycle_urlpatterns

app_name = "safety"
urlpatterns = [
    path("deployments/<int:pk>/hazards/", views.HazardLogView.as_view(), name="hazard-log"),
    path(
        "deployments/<int:pk>/hazards/export.csv",
        views.HazardLogExportView.as_view(),
        {"fmt": "csv"},
        name="hazard-log-export-csv",
    ),
    path(
        "deployments/<int:pk>/hazards/export.xlsx",
        views.HazardLogExportView.as_view(),
        {"fmt": "xlsx"},
        name="hazard-log-export-xlsx",
    ),
    path("deployments/<int:pk>/hazards/new/", views.LocalHazardCreateView.as_view(), name="hazard-create"),
    path("hazards/<int:pk>/", views.HazardDetailView.as_view(), name="hazard-detail"),
    path("hazards/<int:pk>/edit/", views.HazardEditView.as_view(), name="hazard-edit"),
    path(
        "hazards/<int:pk>/transfer-decision/",
        views.HazardTransferDecisionView.as_view(),
        name="hazard-transfer-decision",
    ),
    path("hazards/<int:pk>/controls/new/", views.ControlCreateView.as_view(), name="control-create"),
    path("hazards/<int:pk>/actions/new/", views.ActionCreateView.as_view(), name="action-create"),
    path("actions/<int:pk>/complete/", views.ActionCompleteView.as_view(), name="action-complete"),
    path("safety/review/", views.ReviewQueueView.as_view(), name="review-queue"),
    path("deployments/<int:pk>/sign-off/", views.SignOffView.as_view(), name="sign-off"),
    path("sign-offs/<int:pk>/", views.SignOffDetailView.as_view(), name="sign-off-detail"),
    path("deployments/<int:pk>/go-live/", views.GoLiveView.as_view(), name="go-live"),
    path("deployments/<int:pk>/incidents/", views.IncidentListView.as_view(), name="incident-list"),
    path("deployments/<int:pk>/incidents/new/", views.IncidentCreateView.as_view(), name="incident-create"),
    path("incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/journal/", views.IncidentJournalView.as_view(), name="incident-journal"),
    path("products/versions/<int:pk>/hazards/", views.SupplierHazardListView.as_view(), name="supplier-hazard-list"),
    path(
        "products/versions/<int:pk>/hazards/new/",
        views.SupplierHazardCreateView.as_view(),
        name="supplier-hazard-create",
    ),
    path("supplier-hazards/<int:pk>/edit/", views.SupplierHazardEditView.as_view(), name="supplier-hazard-edit"),
    path("risk-matrix/", views.RiskMatrixView.as_view(), name="risk-matrix"),
]

# The safety case after deployment: version changes, escalation, periodic review, decommissioning.
urlpatterns += lifecycle_urlpatterns
