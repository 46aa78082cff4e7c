"""Evidence for generated deployments: the deploying organisation's for each of its requirements
and, per product version, the supplier's (submitted once, reviewed by each deployment), with
revisions, links at every status and the reviews behind them."""

from collections import defaultdict
from datetime import date, timedelta

from dashboards.seeding.base import SeedingState
from nir_portal.accounts.models import Role
from onboarding.models import Evidence, EvidenceLink, EvidenceRevision, Requirement, Review
from onboarding.services.evidence import expiry_date_for, review_by_for


class EvidenceSeeding(SeedingState):
    """Mixed into ScaleSeeder: needs its rng, today, now, people, reviewer, national, versions,
    deployments, requirements, `_bulk` and `_progress`."""

    # --- evidence -------------------------------------------------------------------------------

    def _plan_status(self, requirement: Requirement, progress: int) -> str | None:
        """A link status for a requirement, given how far the deployment got (None: no evidence)."""
        stage = Requirement.Stage.values.index(requirement.stage)
        r = self.rng.random()
        if stage < progress:
            return "accepted" if r < 0.9 else ("submitted" if r < 0.96 else "changes_requested")
        if stage == progress:
            return (
                "accepted"
                if r < 0.35
                else "submitted"
                if r < 0.65
                else "changes_requested"
                if r < 0.8
                else "draft"
                if r < 0.9
                else None
            )
        return "submitted" if r < 0.08 else ("draft" if r < 0.15 else None)

    def _effective(self, requirement: Requirement, status: str) -> date:
        """An effective date: mostly recent; for expiring requirements, some expiring soon or lapsed."""
        if requirement.expiry_rule == Requirement.ExpiryRule.DSPT_YEAR:
            lapsed = status == "accepted" and self.rng.random() < 0.1
            return (
                date(2025, 9, 1) + timedelta(days=self.rng.randint(0, 200))
                if lapsed
                else (
                    date(self.today.year if self.today.month > 6 else self.today.year - 1, 7, 1)
                    + timedelta(days=self.rng.randint(0, 100))
                )
            )
        if requirement.expiry_rule == Requirement.ExpiryRule.MONTHS and status == "accepted":
            roll = self.rng.random()
            months = requirement.expiry_months or 12
            if roll < 0.08:  # expires within the next 30 days
                return self._months_before(self.today + timedelta(days=self.rng.randint(0, 29)), months)
            if roll < 0.12:  # already past its date: the daily job has marked it expired
                return self._months_before(self.today - timedelta(days=self.rng.randint(5, 60)), months)
        return self.today - timedelta(days=self.rng.randint(10, 200))

    @staticmethod
    def _months_before(day: date, months: int) -> date:
        index = day.year * 12 + day.month - 1 - months
        return date(index // 12, index % 12 + 1, min(day.day, 28))

    def _evidence(self) -> None:
        mandatory_first = sorted(self.requirements, key=lambda r: r.code)
        trust_reqs = [r for r in mandatory_first if r.provided_by in ("deploying", "both")]
        supplier_reqs = [r for r in mandatory_first if r.provided_by in ("supplier", "both")]
        items = []  # (evidence, requirement, [(deployment, status)], reviewer organisation kind)
        by_version = defaultdict(list)
        for deployment in self.deployments:
            by_version[deployment.product_version_id].append(deployment)
        for deployment in self.deployments:
            progress = self._progress(deployment)
            lead = self.people[(deployment.organisation_id, Role.DEPLOYMENT_LEAD)]
            for requirement in trust_reqs:
                status = self._plan_status(requirement, progress)
                if status is None:
                    continue
                evidence = Evidence(
                    owner=deployment.organisation,
                    deployment=deployment,
                    title=f"{requirement.title[:150]} ({requirement.code})",
                    requirement_codes=[requirement.code],
                    created_by=lead,
                )
                items.append((evidence, requirement, [(deployment, status)], lead))
        for version in self.versions:
            deployments = by_version.get(version.pk, [])
            if not deployments:
                continue
            author = self.people[(version.product.supplier_id, Role.SUPPLIER_ASSURANCE_LEAD)]
            for requirement in supplier_reqs:
                statuses = [(d, self._plan_status(requirement, self._progress(d))) for d in deployments]
                if all(s is None for _d, s in statuses):
                    continue
                # The supplier submits once for every deployment; each reviews it on its own.
                statuses = [(d, "submitted" if s in (None, "draft") else s) for d, s in statuses]
                evidence = Evidence(
                    owner=version.product.supplier,
                    product_version=version,
                    title=f"{requirement.title[:150]} ({requirement.code}, version {version.version})",
                    requirement_codes=[requirement.code],
                    created_by=author,
                )
                items.append((evidence, requirement, statuses, author))
        evidence_rows = self._bulk(Evidence, [item[0] for item in items], "evidence")
        revisions, plans = [], []
        for evidence, (_e, requirement, statuses, author) in zip(evidence_rows, items, strict=True):
            sent_back_first = (any(s == "submitted" for _d, s in statuses) and self.rng.random() < 0.3) or (
                any(s == "accepted" for _d, s in statuses) and self.rng.random() < 0.25
            )
            effective = self._effective(requirement, statuses[0][1])
            numbers = [1, 2] if sent_back_first else [1]
            made = []
            for number in numbers:
                day = effective - timedelta(days=30) if number < numbers[-1] else effective
                revisions.append(
                    EvidenceRevision(
                        evidence=evidence,
                        number=number,
                        statement="Described in the attached procedure and signed off.",
                        effective_date=day,
                        expiry_date=expiry_date_for([requirement], day),
                        uploaded_by=author,
                    )
                )
                made.append(len(revisions) - 1)
            plans.append((evidence, requirement, statuses, made))
        revisions = self._bulk(EvidenceRevision, revisions, "evidence revisions")
        links, reviews_plan = [], []
        for evidence, requirement, statuses, made in plans:
            latest = revisions[made[-1]]
            review_by = review_by_for([requirement], evidence.owner)
            for deployment, status in statuses:
                if status == "accepted" and latest.expiry_date and latest.expiry_date < self.today:
                    status = "expired"
                submitted = None
                if status != "draft":
                    if status == "submitted" and self.rng.random() < 0.3:
                        submitted = self.now - timedelta(days=self.rng.randint(15, 45))  # overdue for review
                    else:
                        submitted = self.now - timedelta(days=self.rng.randint(1, 9))
                links.append(
                    EvidenceLink(
                        evidence=evidence,
                        deployment=deployment,
                        status=status,
                        review_by=review_by,
                        revision=latest,
                        submitted_at=submitted,
                    )
                )
                reviews_plan.append((deployment, status, [revisions[i] for i in made], review_by))
        links = self._bulk(EvidenceLink, links, "evidence links")
        reviews = []
        for link, (deployment, status, made, review_by) in zip(links, reviews_plan, strict=True):
            if review_by == EvidenceLink.ReviewBy.NATIONAL:
                reviewer, reviewer_org = self.reviewer, self.national.pk
            else:
                reviewer, reviewer_org = self.people[(deployment.organisation_id, Role.CSO)], deployment.organisation_id
            if len(made) > 1 and status in ("accepted", "expired", "submitted"):
                reviews.append(
                    Review(
                        link=link,
                        revision=made[0],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.REQUEST_CHANGES,
                        comment="Please add the signed version.",
                    )
                )
            if status in ("accepted", "expired"):
                reviews.append(
                    Review(
                        link=link,
                        revision=made[-1],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.ACCEPT,
                    )
                )
            elif status == "changes_requested":
                reviews.append(
                    Review(
                        link=link,
                        revision=made[-1],
                        reviewer=reviewer,
                        reviewer_organisation_id=reviewer_org,
                        decision=Review.Decision.REQUEST_CHANGES,
                        comment="The named owner is missing.",
                    )
                )
        self._bulk(Review, reviews, "reviews")
