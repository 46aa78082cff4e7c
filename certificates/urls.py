from django.urls import path

from certificates import views

app_name = "certificates"
urlpatterns = [
    path("certificates/", views.RegisterView.as_view(), name="register"),
    path("certificates/export.csv", views.RegisterExportView.as_view(), {"fmt": "csv"}, name="register-export-csv"),
    path("certificates/export.xlsx", views.RegisterExportView.as_view(), {"fmt": "xlsx"}, name="register-export-xlsx"),
    path("certificates/<int:pk>/", views.CertificateDetailView.as_view(), name="entry-detail"),
    path("certificates/<int:pk>/renew/", views.CertificateRenewView.as_view(), name="entry-renew"),
    path(
        "deployments/<int:pk>/certificates/",
        views.DeploymentCertificatesView.as_view(),
        name="deployment-certificates",
    ),
    path(
        "deployments/<int:deployment_pk>/certificates/new/",
        views.CertificateCreateView.as_view(),
        name="deployment-certificate-create",
    ),
    path(
        "products/versions/<int:pk>/certificates/",
        views.ProductVersionCertificatesView.as_view(),
        name="product-version-certificates",
    ),
    path(
        "products/versions/<int:version_pk>/certificates/new/",
        views.CertificateCreateView.as_view(holder_kind="product_version"),
        name="product-version-certificate-create",
    ),
]
