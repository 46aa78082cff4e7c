from django.urls import path

from safety.lifecycle.urls import urlpatterns as lifecycle_urlpatterns
from safety.views import hazard_log, hazards, incidents, sign_off, supplier_hazards

app_name = "safety"
urlpatterns = [
    path("deployments/<int:pk>/hazards/", hazard_log.HazardLogView.as_view(), name="hazard-log"),
    path(
        "deployments/<int:pk>/hazards/export.csv",
        hazard_log.HazardLogExportView.as_view(),
        {"fmt": "csv"},
        name="hazard-log-export-csv",
    ),
    path(
        "deployments/<int:pk>/hazards/export.xlsx",
        hazard_log.HazardLogExportView.as_view(),
        {"fmt": "xlsx"},
        name="hazard-log-export-xlsx",
    ),
    path("deployments/<int:pk>/hazards/new/", hazard_log.LocalHazardCreateView.as_view(), name="hazard-create"),
    path("hazards/<int:pk>/", hazards.HazardDetailView.as_view(), name="hazard-detail"),
    path("hazards/<int:pk>/edit/", hazards.HazardEditView.as_view(), name="hazard-edit"),
    path(
        "hazards/<int:pk>/transfer-decision/",
        hazards.HazardTransferDecisionView.as_view(),
        name="hazard-transfer-decision",
    ),
    path("hazards/<int:pk>/controls/new/", hazards.ControlCreateView.as_view(), name="control-create"),
    path("hazards/<int:pk>/actions/new/", hazards.ActionCreateView.as_view(), name="action-create"),
    path("actions/<int:pk>/complete/", hazards.ActionCompleteView.as_view(), name="action-complete"),
    path("safety/review/", sign_off.ReviewQueueView.as_view(), name="review-queue"),
    path("deployments/<int:pk>/sign-off/", sign_off.SignOffView.as_view(), name="sign-off"),
    path("sign-offs/<int:pk>/", sign_off.SignOffDetailView.as_view(), name="sign-off-detail"),
    path("deployments/<int:pk>/go-live/", sign_off.GoLiveView.as_view(), name="go-live"),
    path("deployments/<int:pk>/incidents/", incidents.IncidentListView.as_view(), name="incident-list"),
    path("deployments/<int:pk>/incidents/new/", incidents.IncidentCreateView.as_view(), name="incident-create"),
    path("incidents/<int:pk>/", incidents.IncidentDetailView.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/journal/", incidents.IncidentJournalView.as_view(), name="incident-journal"),
    path(
        "products/versions/<int:pk>/hazards/",
        supplier_hazards.SupplierHazardListView.as_view(),
        name="supplier-hazard-list",
    ),
    path(
        "products/versions/<int:pk>/hazards/new/",
        supplier_hazards.SupplierHazardCreateView.as_view(),
        name="supplier-hazard-create",
    ),
    path(
        "supplier-hazards/<int:pk>/edit/",
        supplier_hazards.SupplierHazardEditView.as_view(),
        name="supplier-hazard-edit",
    ),
    path("risk-matrix/", hazard_log.RiskMatrixView.as_view(), name="risk-matrix"),
]

# The safety case after deployment: version changes, escalation, periodic review, decommissioning.
urlpatterns += lifecycle_urlpatterns
