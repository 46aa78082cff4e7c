"""The first national admin of a new installation, made from the command line."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from nir_portal.accounts.models import Membership, Organisation, Role, User
from nir_portal.accounts.permissions import is_national_admin
from nir_portal.audit.models import AuditEvent
from tests import factories

STRONG = "Correct-Horse-Battery-Staple-9"
ARGS = ["--email", "First.Admin@England.NHS.uk", "--full-name", "First Admin"]
ORG = ["--ods-code", "x26", "--organisation-name", "NHS England NIR onboarding team"]


def bootstrap(monkeypatch, *args, password=STRONG, capsys=None):
    monkeypatch.setenv("NIR_BOOTSTRAP_PASSWORD", password)
    call_command("bootstrap_national_admin", *(args or [*ARGS, *ORG]), "--no-input")


def test_it_creates_the_national_team_and_its_first_admin_who_can_sign_in_and_enrol(db, monkeypatch, client, capsys):
    bootstrap(monkeypatch)

    user = User.objects.get(email="first.admin@england.nhs.uk")
    organisation = Organisation.objects.get(ods_code="X26")
    assert organisation.kind == Organisation.Kind.NATIONAL
    assert Membership.objects.filter(user=user, organisation=organisation, role=Role.NATIONAL_ADMIN).exists()
    assert is_national_admin(user) and user.is_staff and not user.is_superuser
    assert user.check_password(STRONG)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["organisation.create", "national_admin.bootstrap", "enrolment_link.issue"]
    # The printed link, used once, then the password, opens the authenticator set-up.
    link = re.search(r"https?://[^/\s]+(/accounts/enrolment/\S+/)", capsys.readouterr().out).group(1)
    used = client.post(link)
    assert used.status_code == 302 and used.url.startswith(reverse("account_login"))
    response = client.post(reverse("account_login"), {"login": user.email, "password": STRONG})
    assert response.status_code == 302
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_without_its_link_the_first_admin_signing_in_is_asked_to_use_it(db, monkeypatch, client):
    bootstrap(monkeypatch)

    client.post(reverse("account_login"), {"login": "first.admin@england.nhs.uk", "password": STRONG})

    assert client.get(reverse("mfa_activate_totp")).url == reverse("enrolment_needed")


def test_running_it_again_changes_nothing(db, monkeypatch, capsys):
    bootstrap(monkeypatch)
    before = AuditEvent.objects.count()

    bootstrap(monkeypatch, password="a different Password 12345")

    assert "already a national admin" in capsys.readouterr().out
    assert AuditEvent.objects.count() == before
    assert User.objects.get(email="first.admin@england.nhs.uk").check_password(STRONG)
    assert Membership.objects.filter(role=Role.NATIONAL_ADMIN).count() == 1


def test_once_a_national_admin_exists_nobody_else_is_bootstrapped(db, monkeypatch):
    national = factories.OrganisationFactory(kind=Organisation.Kind.NATIONAL, ods_code="X26", region="")
    factories.member(national, Role.NATIONAL_ADMIN)

    with pytest.raises(CommandError, match="already exists"):
        bootstrap(monkeypatch)

    assert not User.objects.filter(email="first.admin@england.nhs.uk").exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1A!", "too short"),
        ("password1234", "too common"),
        ("839201746528391", "entirely numeric"),
        ("first.admin@england", "too similar"),
    ],
)
def test_a_weak_password_is_refused_and_nothing_is_created(db, monkeypatch, password, reason):
    with pytest.raises(CommandError, match=reason):
        bootstrap(monkeypatch, password=password)

    assert not User.objects.exists() and not Organisation.objects.exists() and not AuditEvent.objects.exists()


def test_a_bad_email_or_ods_code_or_a_non_national_organisation_is_refused(db, monkeypatch):
    with pytest.raises(CommandError, match="not an email address"):
        bootstrap(monkeypatch, "--email", "not-an-email", "--full-name", "A Person", *ORG)
    with pytest.raises(CommandError, match="ODS code"):
        bootstrap(monkeypatch, *ARGS, "--ods-code", "no!", "--organisation-name", "NHS England")
    factories.OrganisationFactory(ods_code="RZ9", name="A trust")
    with pytest.raises(CommandError, match="not the national team"):
        bootstrap(monkeypatch, *ARGS, "--ods-code", "RZ9", "--organisation-name", "NHS England")

    assert not User.objects.exists()


def test_without_a_password_and_without_a_terminal_it_says_how_to_give_one(db, monkeypatch):
    monkeypatch.delenv("NIR_BOOTSTRAP_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="NIR_BOOTSTRAP_PASSWORD"):
        call_command("bootstrap_national_admin", *ARGS, *ORG, "--no-input")
