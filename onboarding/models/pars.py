import pgtrigger
from django.conf import settings
from django.db import models

from onboarding.models.evidence import EvidenceFile, EvidenceLink, EvidenceRevision


class ParsReport(models.Model):
    """The PARS conformance report of one evidence file, kept with its revision. Immutable: a
    new upload is a new revision with its own report."""

    file = models.OneToOneField(EvidenceFile, on_delete=models.PROTECT, related_name="pars_report")
    revision = models.ForeignKey(EvidenceRevision, on_delete=models.PROTECT, related_name="pars_reports")
    passed = models.BooleanField()
    rules_version = models.CharField(max_length=30)
    report = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["revision", "file"]
        triggers = [pgtrigger.Protect(name="pars_report_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"PARS report of {self.file} ({'pass' if self.passed else 'fail'})"


class ParsException(models.Model):
    """A reviewer's justified exception: a failing PARS report accepted for one revision and one
    deployment, with the reason on record."""

    link = models.ForeignKey(EvidenceLink, on_delete=models.PROTECT, related_name="pars_exceptions")
    revision = models.ForeignKey(EvidenceRevision, on_delete=models.PROTECT, related_name="pars_exceptions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField(max_length=2000)
    failed_rules = models.JSONField(help_text="The failing (section, rule) pairs the exception covers.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["link", "revision"], name="pars_exception_once_per_revision"),
            models.CheckConstraint(condition=~models.Q(justification=""), name="pars_exception_justified"),
        ]
        triggers = [pgtrigger.Protect(name="pars_exception_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"PARS exception for {self.link} (revision {self.revision.number})"
