"""Independent acceptance of residual risk (DCB0160 2.2.2) and a CSO's registration check."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from nir_portal.accounts.models import Role
from safety.lifecycle import duties
from safety.models import GoLiveAuthorisation, SignOff
from safety.services.go_live import go_live_authorise
from tests import factories
from tests.onboarding.evidence_fixtures import error_codes


def test_the_cso_who_signed_cannot_also_authorise_go_live_and_is_told_why(safety, world):
    cso = safety.cso
    # One person holding both roles in the trust.
    from nir_portal.accounts import services as account_services

    account_services.membership_grant(actor=None, organisation=world.trust_a, user=cso, role=Role.EXECUTIVE_APPROVER)
    safety.make_signable()
    safety.sign()
    factories.ready_for_go_live(world.deployment_a)

    with pytest.raises(ValidationError) as refused:
        go_live_authorise(
            actor=cso, deployment=world.deployment_a, statement="I accept the risk.", mfa_verified_at=time.time()
        )

    assert error_codes(refused.value) == {"same_person_as_cso"}
    assert "different executive approver" in refused.value.messages[0]
    assert not GoLiveAuthorisation.objects.exists()


def test_a_different_executive_approver_authorises_go_live(safety, world):
    safety.make_signable()
    sign_off = safety.sign()
    factories.ready_for_go_live(world.deployment_a)
    approver = factories.member(world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)

    authorisation = go_live_authorise(
        actor=approver,
        deployment=world.deployment_a,
        statement="I accept the residual risk.",
        mfa_verified_at=time.time(),
    )

    assert authorisation.sign_off_id == sign_off.pk and authorisation.approver_id != sign_off.cso_id


def test_a_cso_whose_registration_check_is_too_old_cannot_sign_off_and_sees_why(safety, world, settings):
    settings.CSO_REGISTRATION_CHECK_MONTHS = 12
    profile = safety.cso_profile(safety.cso)
    profile.registration_checked_on = timezone.localdate() - timedelta(days=400)
    profile.save()
    safety.make_signable()

    with pytest.raises(ValidationError) as refused:
        safety.sign()

    assert error_codes(refused.value) == {"registration_check_stale"}
    message = refused.value.messages[0]
    assert profile.registration_number in message and "more than 12 months ago" in message
    assert "deployment lead or the national admin" in message
    assert not SignOff.objects.exists()


def test_a_re_checked_registration_lets_the_cso_sign_off(safety, world, settings, people):
    settings.CSO_REGISTRATION_CHECK_MONTHS = 12
    profile = safety.cso_profile(safety.cso)
    profile.registration_checked_on = timezone.localdate() - timedelta(days=400)
    profile.save()
    safety.make_signable()
    from nir_portal.accounts import services as account_services

    account_services.cso_profile_save(
        actor=people.a_lead,
        user=safety.cso,
        professional_body=profile.professional_body,
        registration_number=profile.registration_number,
        registration_checked_on=timezone.localdate(),
    )

    assert safety.sign().registration_checked_on == timezone.localdate()


def test_the_months_come_from_the_setting(safety, settings):
    profile = safety.cso_profile(safety.cso)
    profile.registration_checked_on = timezone.localdate() - timedelta(days=100)

    settings.CSO_REGISTRATION_CHECK_MONTHS = 6
    assert duties.registration_check_is_current(profile)
    settings.CSO_REGISTRATION_CHECK_MONTHS = 3
    assert not duties.registration_check_is_current(profile)
