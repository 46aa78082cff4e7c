"""A hazard control may cite the deployment's certificate register as its evidence: the register's
expiry monitoring. The hazard log, its exports, the sign-off and the CSCR show the citation, and the
sign-off snapshot covers it, so citing or no longer citing the register supersedes a sign-off as any
other control change does; renewing a certificate in the register does not."""

import csv
import io
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from certificates import services
from nir_portal.audit.models import AuditEvent
from safety import cscr_services
from safety.cscr import document
from safety.models import DeploymentHazard, HazardControl, SignOff
from safety.services.controls import control_save
from safety.services.sign_off import sign_off_blockers
from safety.snapshots import snapshot_build
from tests.certificates.conftest import add, sign, upload

pytestmark = pytest.mark.django_db

CERTIFICATE_EXPIRY = "NIR-06"
DESCRIPTION = "Certificates registered and monitored for expiry"


def expiry_hazard(deployment) -> DeploymentHazard:
    return DeploymentHazard.objects.get(deployment=deployment, library_hazard__code=CERTIFICATE_EXPIRY)


def save_control(actor, hazard, *, cites: bool, verified: bool = True, control=None, description=DESCRIPTION):
    hazard.refresh_from_db()
    return control_save(
        actor=actor,
        hazard=hazard,
        expected_version=hazard.version,
        kind=HazardControl.Kind.BUSINESS_PROCESS,
        description=description,
        owner=hazard.deployment.organisation,
        is_verified=verified,
        evidence_revisions=[],
        cites_certificate_register=cites,
        control=control,
    )


def snapshot_control(deployment, control) -> dict:
    entries = [c for h in snapshot_build(deployment)["hazards"] for c in h["controls"]]
    return next(c for c in entries if c["id"] == control.pk)


def test_an_empty_register_cannot_be_cited_and_nothing_is_stored(world, keepers):
    hazard = expiry_hazard(world.deployment_a)
    version = hazard.version

    with pytest.raises(ValidationError) as refused:
        save_control(keepers.a_lead, hazard, cites=True)

    assert refused.value.error_dict["cites_certificate_register"][0].code == "certificate_register_empty"
    hazard.refresh_from_db()
    assert hazard.version == version
    assert not HazardControl.objects.exists()


def test_the_register_verifies_a_control_without_other_evidence(world, keepers, certs):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    hazard = expiry_hazard(world.deployment_a)

    control = save_control(keepers.a_lead, hazard, cites=True)

    assert (control.is_verified, control.cites_certificate_register) == (True, True)
    assert snapshot_control(world.deployment_a, control)["certificate_register"] is True
    event = AuditEvent.objects.filter(action="hazard.control_save").latest("pk")
    assert event.changes["certificate_register"] == [None, True]


def test_the_suppliers_certificates_for_the_version_are_the_deployments_register_too(world, keepers, certs):
    add(keepers.supplier_lead, certs.valid, product_version=world.product_version, purpose="tls_client")

    control = save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=True)

    assert control.cites_certificate_register


def test_verified_without_evidence_or_the_register_is_still_refused(world, keepers, certs):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    with pytest.raises(ValidationError) as refused:
        save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=False)

    assert refused.value.error_dict["evidence_revisions"][0].code == "verified_needs_evidence"
    assert not HazardControl.objects.exists()


def test_a_control_that_does_not_cite_the_register_keeps_its_snapshot_shape(world, keepers, certs):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    control = save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=False, verified=False)

    # Absent, not false: sign-offs recorded before the register existed keep their hashes.
    assert "certificate_register" not in snapshot_control(world.deployment_a, control)


def test_citing_the_register_supersedes_the_sign_off_and_says_so(world, keepers, certs, signed_off):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=True)

    signed_off.refresh_from_db()
    assert signed_off.status == SignOff.Status.SUPERSEDED
    reference = expiry_hazard(world.deployment_a).reference
    assert f"{reference}: control '{DESCRIPTION}' now cites the certificate register" in signed_off.superseded_changes


def test_no_longer_citing_the_register_supersedes_the_sign_off(world, keepers, certs, signed_off):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    hazard = expiry_hazard(world.deployment_a)
    control = save_control(keepers.a_lead, hazard, cites=True, verified=False)
    resigned = sign(world.deployment_a, keepers.a_cso, "Register cited.")
    assert resigned.snapshot["hazards"] == snapshot_build(world.deployment_a)["hazards"]

    save_control(keepers.a_lead, hazard, cites=False, verified=False, control=control)

    resigned.refresh_from_db()
    assert resigned.status == SignOff.Status.SUPERSEDED
    assert (
        f"{hazard.reference}: control '{DESCRIPTION}' no longer cites the certificate register"
        in resigned.superseded_changes
    )
    event = AuditEvent.objects.filter(action="hazard.control_save").latest("pk")
    assert event.changes == {"certificate_register": [True, False]}


def test_renewing_a_certificate_in_a_cited_register_supersedes_nothing(world, keepers, certs, signed_off):
    entry = add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=True)
    resigned = sign(world.deployment_a, keepers.a_cso, "Register cited.")

    services.certificate_entry_renew(actor=keepers.a_lead, entry=entry, upload=upload(certs.valid))

    resigned.refresh_from_db()
    assert resigned.status == SignOff.Status.CURRENT
    assert entry.revisions.count() == 2


def test_a_verified_control_resting_on_the_register_does_not_block_sign_off(world, keepers, certs, signed_off):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    save_control(keepers.a_lead, expiry_hazard(world.deployment_a), cites=True)

    assert sign_off_blockers(world.deployment_a) == []
    assert sign(world.deployment_a, keepers.a_cso).status == SignOff.Status.CURRENT


def test_the_hazard_log_and_its_export_show_the_citation(world, keepers, certs, signed_in):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    add(keepers.supplier_lead, certs.valid, product_version=world.product_version, name="Supplier client")
    hazard = expiry_hazard(world.deployment_a)
    save_control(keepers.a_lead, hazard, cites=True)
    client = signed_in(keepers.a_viewer)
    register_url = reverse("certificates:deployment-certificates", args=[world.deployment_a.pk])

    detail = client.get(reverse("safety:hazard-detail", args=[hazard.pk])).content.decode()
    log = client.get(reverse("safety:hazard-log", args=[world.deployment_a.pk])).content.decode()
    export = client.get(reverse("safety:hazard-log-export-csv", args=[world.deployment_a.pk]))

    assert f'href="{register_url}" data-testid="control-certificate-register">Certificate register</a>' in detail
    assert "(2 certificates, expiry monitored daily)" in detail
    row = log[log.index(f'data-testid="hazard-{hazard.reference}"') :]
    assert row[: row.index("</tr>")].endswith("1 (certificate register cited)</td>")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    cell = next(r for r in rows if r[0] == hazard.reference)
    assert any(f"{DESCRIPTION} (owner: Trust A; verified; evidence: the certificate register)" in c for c in cell)


def test_the_control_form_cites_the_register(world, keepers, certs, signed_in):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    hazard = expiry_hazard(world.deployment_a)
    client = signed_in(keepers.a_lead)

    response = client.post(
        reverse("safety:control-create", args=[hazard.pk]),
        {
            "kind": HazardControl.Kind.BUSINESS_PROCESS,
            "description": DESCRIPTION,
            "owner": world.trust_a.pk,
            "is_verified": "on",
            "cites_certificate_register": "on",
            "expected_version": hazard.version,
        },
    )

    assert response.status_code == 302
    control = HazardControl.objects.get()
    assert (control.is_verified, control.cites_certificate_register) == (True, True)


def test_the_control_form_explains_an_empty_register(world, keepers, signed_in):
    hazard = expiry_hazard(world.deployment_a)

    response = signed_in(keepers.a_lead).post(
        reverse("safety:control-create", args=[hazard.pk]),
        {
            "kind": HazardControl.Kind.BUSINESS_PROCESS,
            "description": DESCRIPTION,
            "owner": world.trust_a.pk,
            "cites_certificate_register": "on",
            "expected_version": hazard.version,
        },
    )

    assert response.status_code == 200
    assert escape("The deployment's certificate register holds no certificate yet") in response.content.decode()
    assert not HazardControl.objects.exists()


def test_the_sign_off_and_the_cscr_show_the_citation_as_signed(world, keepers, certs, signed_off, signed_in):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a, name="Trust gateway")
    hazard = expiry_hazard(world.deployment_a)
    save_control(keepers.a_lead, hazard, cites=True)
    resigned = sign(world.deployment_a, keepers.a_cso, "Register cited.")

    sign_off_page = signed_in(keepers.a_cso).get(reverse("safety:sign-off-detail", args=[resigned.pk]))
    job, _new = cscr_services.bundle_request(
        actor=keepers.a_cso, deployment=world.deployment_a, mfa_verified_at=time.time()
    )
    context = document.cscr_context(
        job, issued_at=timezone.now(), signer_subject="", signer_fingerprint="", evidence=[]
    )
    html = document.render_html(context)

    assert "verified; evidence: the certificate register)" in sign_off_page.content.decode()
    assert [(c["hazard"], c["description"]) for c in context["register_citations"]] == [(hazard.reference, DESCRIPTION)]
    risk_section = html[html.index("<h2>7 Hazard log") : html.index("<h2>8 ")]
    assert f"{DESCRIPTION} (Trust A; verified; evidence: the certificate register, section 12)" in risk_section
    go_live = html[html.index("<h2>12 Go-live controls") : html.index("<h2>13 Monitoring")]
    assert "Controls whose evidence is the register" in go_live
    assert f"{hazard.reference} business process change control" in go_live
    assert "Trust gateway" in go_live
