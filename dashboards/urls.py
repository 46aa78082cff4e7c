from django.urls import path

from dashboards import views

app_name = "dashboards"
urlpatterns = [
    # The national team only: everyone else gets a 404.
    path("dashboards/national/", views.NationalDashboardView.as_view(), name="national"),
    path(
        "dashboards/national/export.csv", views.NationalExportView.as_view(), {"fmt": "csv"}, name="national-export-csv"
    ),
    path(
        "dashboards/national/export.xlsx",
        views.NationalExportView.as_view(),
        {"fmt": "xlsx"},
        name="national-export-xlsx",
    ),
    path("dashboards/national/deployments/", views.DeploymentDrilldownView.as_view(), name="national-deployments"),
    path("dashboards/national/evidence/", views.EvidenceDrilldownView.as_view(), name="national-evidence"),
    path("dashboards/national/hazards/", views.HazardDrilldownView.as_view(), name="national-hazards"),
    # Members of the deploying organisation they act for.
    path("dashboards/trust/", views.TrustDashboardView.as_view(), name="trust"),
    path("dashboards/trust/evidence/", views.TrustEvidenceDrilldownView.as_view(), name="trust-evidence"),
    path("dashboards/trust/hazards/", views.TrustHazardDrilldownView.as_view(), name="trust-hazards"),
    # Members of the supplier they act for.
    path("dashboards/supplier/", views.SupplierDashboardView.as_view(), name="supplier"),
    path("dashboards/supplier/evidence/", views.SupplierEvidenceDrilldownView.as_view(), name="supplier-evidence"),
    path("dashboards/supplier/hazards/", views.SupplierHazardDrilldownView.as_view(), name="supplier-hazards"),
]
