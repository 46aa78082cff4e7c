from django.urls import path

from nir_portal.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.AuditEventListView.as_view(), name="event-list"),
    path("export.json", views.AuditExportView.as_view(format="json"), name="export-json"),
    path("export.ndjson", views.AuditExportView.as_view(format="ndjson"), name="export-ndjson"),
]
