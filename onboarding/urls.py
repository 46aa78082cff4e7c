from django.urls import path

from onboarding import evidence_views, framework_views, review_views, views

app_name = "onboarding"
urlpatterns = [
    path("deployments/", views.DeploymentListView.as_view(), name="deployment-list"),
    path("deployments/new/", views.DeploymentCreateView.as_view(), name="deployment-create"),
    path("deployments/<int:pk>/", views.DeploymentDetailView.as_view(), name="deployment-detail"),
    path("deployments/<int:pk>/stage/", views.DeploymentStageChangeView.as_view(), name="deployment-stage"),
    path(
        "deployments/<int:pk>/onboarding/",
        evidence_views.DeploymentChecklistView.as_view(),
        name="deployment-checklist",
    ),
    path(
        "deployments/<int:pk>/framework/",
        framework_views.DeploymentFrameworkChangeView.as_view(),
        name="deployment-framework",
    ),
    path(
        "deployments/<int:deployment_pk>/evidence/new/",
        evidence_views.EvidenceCreateView.as_view(),
        name="deployment-evidence-create",
    ),
    path("evidence/<int:pk>/", evidence_views.EvidenceDetailView.as_view(), name="evidence-detail"),
    path("evidence/<int:pk>/revise/", evidence_views.EvidenceReviseView.as_view(), name="evidence-revise"),
    path("evidence/<int:pk>/submit/", evidence_views.EvidenceSubmitView.as_view(), name="evidence-submit"),
    path("evidence/links/<int:pk>/", review_views.EvidenceReviewView.as_view(), name="evidence-review"),
    path("evidence/links/<int:pk>/comment/", review_views.EvidenceCommentView.as_view(), name="evidence-comment"),
    path(
        "evidence/links/<int:pk>/pars-exception/",
        review_views.ParsExceptionView.as_view(),
        name="evidence-pars-exception",
    ),
    path(
        "evidence/files/<int:pk>/download/",
        review_views.EvidenceFileDownloadView.as_view(),
        name="evidence-file-download",
    ),
    path("reviews/", review_views.ReviewQueueView.as_view(), name="review-queue"),
    path(
        "products/versions/<int:pk>/evidence/",
        evidence_views.ProductVersionEvidenceView.as_view(),
        name="product-version-evidence",
    ),
    path(
        "products/versions/<int:version_pk>/evidence/new/",
        evidence_views.EvidenceCreateView.as_view(),
        name="product-version-evidence-create",
    ),
    path(
        "products/versions/<int:pk>/carry-forward/",
        evidence_views.EvidenceCarryForwardView.as_view(),
        name="product-version-carry-forward",
    ),
    path("frameworks/", framework_views.FrameworkListView.as_view(), name="framework-list"),
    path("frameworks/<int:pk>/", framework_views.FrameworkDetailView.as_view(), name="framework-detail"),
    path("frameworks/<int:pk>/publish/", framework_views.FrameworkPublishView.as_view(), name="framework-publish"),
    path("frameworks/<int:pk>/draft/", framework_views.FrameworkDraftCreateView.as_view(), name="framework-draft"),
    path(
        "frameworks/requirements/<int:pk>/edit/", framework_views.RequirementEditView.as_view(), name="requirement-edit"
    ),
]
