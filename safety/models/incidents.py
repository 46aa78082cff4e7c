"""Safety incidents involving a deployment and their journals of actions."""

import pgtrigger
from django.conf import settings
from django.db import models

from onboarding.models import Deployment
from safety.models.hazards import DeploymentHazard
from safety.models.reference import Likelihood, RiskMatrix, Severity


class SafetyIncident(models.Model):
    """A clinical safety incident involving a deployment, linked to the hazards it relates to."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MADE_SAFE = "made_safe", "Made safe"
        CLOSED = "closed", "Closed"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="incidents")
    reference = models.CharField(max_length=40)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_on = models.DateField()
    summary = models.TextField()
    clinical_risk_assessment = models.TextField(blank=True)
    # Scored on the deployment's risk matrix: the rating is looked up, never typed.
    risk_matrix = models.ForeignKey(RiskMatrix, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(max_length=15, choices=Severity.choices, blank=True)
    likelihood = models.CharField(max_length=15, choices=Likelihood.choices, blank=True)
    risk_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    system_release = models.CharField(max_length=100, blank=True)
    made_safe_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    cause = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    hazards = models.ManyToManyField(DeploymentHazard, blank=True, related_name="incidents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-reported_on", "-id"]
        constraints = [models.UniqueConstraint(fields=["deployment", "reference"], name="incident_unique_reference")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.summary[:60]}"


class IncidentJournalEntry(models.Model):
    """One entry in an incident's journal of actions."""

    incident = models.ForeignKey(SafetyIncident, on_delete=models.PROTECT, related_name="journal")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        triggers = [pgtrigger.Protect(name="journal_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return self.text[:80]
