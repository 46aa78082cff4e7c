from django.urls import path

from safety.lifecycle import views

urlpatterns = [
    path("products/versions/<int:pk>/publish/", views.ProductVersionPublishView.as_view(), name="version-publish"),
    path("deployments/<int:pk>/case-versions/", views.CaseVersionListView.as_view(), name="case-versions"),
    path("deployments/<int:pk>/upgrade/", views.CaseUpgradeView.as_view(), name="case-upgrade"),
    path("hazards/<int:pk>/re-review/", views.HazardReReviewView.as_view(), name="hazard-re-review"),
    path("deployments/<int:pk>/live-decision/", views.LiveCaseDecisionView.as_view(), name="live-case-decision"),
    path("incidents/<int:pk>/escalate/", views.IncidentEscalateView.as_view(), name="incident-escalate"),
    path("escalations/", views.EscalationListView.as_view(), name="escalation-list"),
    path("escalations/<int:pk>/", views.EscalationDetailView.as_view(), name="escalation-detail"),
    path("deployments/<int:pk>/go-live/record/", views.GoLiveRecordView.as_view(), name="go-live-record"),
    path("deployments/<int:pk>/periodic-review/", views.PeriodicReviewView.as_view(), name="periodic-review"),
    path("deployments/<int:pk>/decommissioning/", views.DecommissioningPlanView.as_view(), name="decommissioning"),
    path(
        "deployments/<int:pk>/decommissioning/authorise/",
        views.DecommissioningAuthoriseView.as_view(),
        name="decommissioning-authorise",
    ),
]
