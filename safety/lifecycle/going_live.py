"""Recording that a deployment went live.

The executive's authorisation moves a deployment to "Go-live authorised"; the deployment lead
then records the day it went live. That is allowed only while the authorisation still stands: it
must be of the case version being prepared, and the CSO's sign-off it accepted must still be the
current one (a change to the hazard log or its evidence since then supersedes it, and the CSO
signs off and the executive authorises again). The CSO and the executive approver are told."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from nir_portal.accounts.models import Role
from nir_portal.forms import refused
from onboarding.models import Deployment
from onboarding.services.cases import case_version_current
from onboarding.services.deployments import deployment_mark_live
from safety.lifecycle.mail import notice_queue, people_of
from safety.lifecycle.permissions import RECORD_GO_LIVE
from safety.models import GoLiveAuthorisation, SignOff


def go_live_authorisation_standing(deployment: Deployment) -> GoLiveAuthorisation | None:
    """The authorisation of the case version being prepared, if one was given (the latest)."""
    case = case_version_current(deployment)
    if case is None:
        return None
    return (
        GoLiveAuthorisation.objects.filter(deployment=deployment, sign_off__case_version=case)
        .select_related("sign_off", "approver")
        .order_by("-authorised_at", "-pk")
        .first()
    )


def _refusal(deployment: Deployment, authorisation: GoLiveAuthorisation | None) -> ValidationError | None:
    if deployment.stage != Deployment.Stage.GO_LIVE_AUTHORISED:
        return ValidationError(
            f"Only a deployment whose go-live is authorised can be recorded as live; this one is at "
            f"{deployment.get_stage_display().lower()}.",
            code="not_go_live_authorised",
        )
    if authorisation is None:
        return ValidationError(
            "No executive approver has authorised go-live of this version of the safety case.",
            code="no_authorisation",
        )
    if authorisation.sign_off.status != SignOff.Status.CURRENT:
        return ValidationError(
            "The CSO's sign-off that go-live was authorised on has been superseded since: the CSO signs "
            "off again and an executive approver authorises go-live again before it is recorded live.",
            code="sign_off_superseded",
        )
    if authorisation.sign_off.needs_re_review:
        return ValidationError(
            "A safety incident flagged the CSO's sign-off for re-review: the CSO re-reviews it first.",
            code="re_review",
        )
    return None


def go_live_refusal(deployment: Deployment, authorisation: GoLiveAuthorisation | None) -> str:
    """Why the deployment cannot be recorded live now ("" when it can), for the page to say so;
    `authorisation` is `go_live_authorisation_standing(deployment)`, which the page shows too."""
    error = _refusal(deployment, authorisation)
    return error.messages[0] if error else ""


@transaction.atomic
def deployment_record_live(*, actor, deployment: Deployment, went_live_on: date) -> Deployment:
    """The deployment lead records the day the deployment went live: not in the future, and not
    before go-live was authorised."""
    RECORD_GO_LIVE.require(actor, deployment)
    # Row lock first: a sign-off superseded or re-authorised at this moment waits, or is seen.
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("organisation", "product_version__product")
        .get(pk=deployment.pk)
    )
    authorisation = go_live_authorisation_standing(deployment)
    error = _refusal(deployment, authorisation)
    if error is not None:
        raise error
    assert authorisation is not None  # for the type checker: _refusal refuses without one
    today = timezone.localdate()
    authorised_on = timezone.localdate(authorisation.authorised_at)
    if went_live_on > today:
        raise refused("went_live_on", "The date it went live must be today or in the past.", "future")
    if went_live_on < authorised_on:
        raise refused(
            "went_live_on",
            f"The date it went live cannot be before go-live was authorised, on {authorised_on:%-d %B %Y}.",
            "before_authorisation",
        )
    deployment = deployment_mark_live(
        actor=actor,
        deployment=deployment,
        went_live_on=went_live_on,
        authority={
            "go_live_authorisation": authorisation.pk,
            "sign_off": authorisation.sign_off_id,
            "snapshot_sha256": authorisation.snapshot_sha256,
        },
    )
    case = case_version_current(deployment)
    notice_queue(
        subject=f"{deployment.name} went live on {went_live_on:%-d %B %Y}",
        body=(
            f"{actor} recorded that {deployment.name} ({deployment.product_version}) at "
            f"{deployment.organisation.name} went live on {went_live_on:%-d %B %Y}, on version "
            f"{case.number if case else 1} of its safety case, signed off by {authorisation.sign_off.cso_name} and "
            f"authorised by {authorisation.approver}.\n\nFrom now on a change to the hazard log or the evidence it "
            "relies on marks the live case out of date; the CSO records periodic reviews."
        ),
        recipients=people_of(deployment, (Role.CSO, Role.EXECUTIVE_APPROVER)),
    )
    return deployment
