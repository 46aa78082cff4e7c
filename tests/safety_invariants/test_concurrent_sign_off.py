"""Concurrent sign-offs on real PostgreSQL connections: ten CSOs press "sign off" at the same moment
and exactly one sign-off is recorded; the others get a clear refusal, never a deadlock."""

import threading
import time
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import AUDIT_CHAIN_LOCK_KEY, audit_chain_extend, audit_chain_verify
from safety.models import SignOff
from safety.services.controls import control_save
from safety.services.hazards import hazard_update
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_blockers, sign_off_create
from safety.snapshots import snapshot_build, snapshot_changes, snapshot_sha256
from tests import factories
from tests.onboarding import evidence_fixtures as fx
from tests.safety_invariants.conftest import STATEMENT, recent_mfa

THREADS = 10
TIMEOUT = 60

pytestmark = pytest.mark.django_db(transaction=True)


def small_signable_log(safety, deployment) -> None:
    """Keep two hazards, scored residual 1 and 2; the rest do not apply here, with a reason."""
    for index, hazard in enumerate(safety.hazards(deployment)):
        if index == 0:
            safety.assess(hazard, ("major", "medium"), ("minor", "very_low"), residual_justification="")
        elif index == 1:
            safety.assess(hazard, ("considerable", "high"), ("significant", "low"), residual_justification="")
        else:
            safety.update(
                hazard, is_applicable=False, applicability_justification="Not used in this deployment's workflow."
            )


def run_in_threads(count: int, work) -> tuple[list, list[threading.Thread]]:
    """Start `count` threads that wait on one barrier, then call `work(index)` at the same moment.
    Each thread closes its own database connection. Returns each thread's (kind, value)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            results[index] = ("ok", work(index))
        except BaseException as error:  # noqa: BLE001 - every outcome is reported to the test
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return results, threads


def test_ten_csos_signing_at_once_record_exactly_one_sign_off(safety, world):
    # Given a small signable log and ten CSOs of the deploying trust, each with a registration
    deployment = world.deployment_a
    small_signable_log(safety, deployment)
    assert sign_off_blockers(deployment) == []
    csos = [factories.member(world.trust_a, Role.CSO, mfa=False) for _ in range(THREADS)]
    for cso in csos:
        safety.cso_profile(cso)

    # When all ten sign off at the same moment
    results, threads = run_in_threads(
        THREADS,
        lambda index: sign_off_create(
            actor=csos[index],
            deployment=deployment,
            statement=STATEMENT,
            conditions=[],
            mfa_verified_at=recent_mfa(),
        ),
    )

    # Then every thread finished in time
    assert not [t for t in threads if t.is_alive()], f"threads still running after {TIMEOUT}s (a lock wait?)"
    # And exactly one signed; the others were refused in words, and nothing else was raised
    signed = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    unexpected = [e for e in errors if not isinstance(e, ValidationError)]
    assert unexpected == [], f"unexpected errors (deadlock or database error?): {unexpected!r}"
    assert len(signed) == 1
    assert len(errors) == THREADS - 1
    for error in errors:
        assert error.code in {"already_signed_off", "concurrent_sign_off"}, error
        message = error.messages[0]
        assert message.startswith(
            ("The hazard log is already signed off, by ", "Another sign-off of this hazard log was recorded")
        ), message
        assert "IntegrityError" not in message and "duplicate key" not in message
    stored = list(SignOff.objects.filter(deployment=deployment))
    assert [s.pk for s in stored] == [signed[0].pk]
    assert stored[0].status == SignOff.Status.CURRENT
    assert (
        stored[0].snapshot_sha256 == snapshot_sha256(stored[0].snapshot) == snapshot_sha256(snapshot_build(deployment))
    )
    winner = next(cso for cso in csos if cso.pk == stored[0].cso_id)
    for error in errors:
        if error.code == "already_signed_off":
            assert winner.full_name in error.messages[0]


def test_a_sign_off_never_waits_for_the_audit_chain_lock(safety, world):
    """Writers record their audit entries unchained and take no chain lock: a sign-off completes
    while another session (a chainer) holds the lock, so the lock can never join a wait cycle with
    the sign-off's row locks."""
    deployment = world.deployment_a
    small_signable_log(safety, deployment)
    cso = safety.cso
    outcome: dict[str, object] = {}

    def signer() -> None:
        try:
            outcome["signer"] = sign_off_create(
                actor=cso, deployment=deployment, statement=STATEMENT, conditions=[], mfa_verified_at=recent_mfa()
            )
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcome["signer"] = error
        finally:
            connection.close()

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
        thread = threading.Thread(target=signer, daemon=True)
        thread.start()
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), "the sign-off waited for the audit chain lock"

    assert isinstance(outcome.get("signer"), SignOff), f"the sign-off failed: {outcome.get('signer')!r}"
    assert SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).count() == 1
    # Its entries were left to the session holding the lock (which chained nothing); the next
    # chaining takes them in.
    assert AuditEvent.objects.filter(chain_seq=None).exists()
    audit_chain_extend()
    assert not AuditEvent.objects.filter(chain_seq=None).exists()
    assert audit_chain_verify() == (True, None)


def _hold_audit_inserts(cursor) -> None:
    """Stop every write at its first audit entry (after its row locks) until this transaction ends."""
    cursor.execute("LOCK TABLE audit_auditevent IN SHARE MODE")


def _locked_by_another_session(table: str, pk: int) -> bool:
    """Whether another transaction holds a lock that stops a foreign-key check on this row."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE NOWAIT", [pk])  # noqa: S608 - fixed table names
    except OperationalError:
        return True
    return False


@pytest.mark.parametrize("write", ["sign_off_create", "hazard_update", "control_save", "incident_report"])
def test_a_safety_write_locks_no_row_shared_beyond_its_deployment(safety, world, people, write):
    """While a safety write is open, the trust's organisation row and the risk matrix (shared by every
    deployment) stay free for other writers: a write locks its deployment and hazard rows only."""
    deployment = world.deployment_a
    small_signable_log(safety, deployment)
    cso, lead = safety.cso, people.a_lead
    hazard = safety.hazards(deployment)[0]
    matrix_id = deployment.risk_plan.risk_matrix_id
    writes = {
        "sign_off_create": lambda: sign_off_create(
            actor=cso, deployment=deployment, statement=STATEMENT, conditions=[], mfa_verified_at=recent_mfa()
        ),
        "hazard_update": lambda: hazard_update(
            actor=cso, hazard=hazard, expected_version=hazard.version, operating_limits="Monitored hourly."
        ),
        "control_save": lambda: control_save(
            actor=cso,
            hazard=hazard,
            expected_version=hazard.version,
            kind="training",
            description="Radiographers trained on reconciliation.",
            owner=world.trust_a,
            is_verified=False,
            evidence_revisions=[],
        ),
        "incident_report": lambda: incident_report(
            actor=lead,
            deployment=deployment,
            reference="INC-77",
            reported_on=date(2026, 11, 20),
            summary="Wrong prior shown.",
            hazards=[hazard],
        ),
    }
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = writes[write]()
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcome["result"] = error
        finally:
            connection.close()

    # Pause the write at its audit row (its last step, after all its row locks).
    with transaction.atomic():
        with connection.cursor() as cursor:
            _hold_audit_inserts(cursor)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        waiting = False
        with connection.cursor() as cursor:
            while time.monotonic() < deadline and not waiting:
                # Inside a transaction the activity view is a snapshot taken once: refresh it.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND wait_event = 'relation' AND datname = current_database()"
                )
                waiting = bool(cursor.fetchone()[0])
                if not waiting:
                    time.sleep(0.02)
        assert waiting, f"{write} never reached its audit row: {outcome.get('result')!r}"
        organisation_locked = _locked_by_another_session("accounts_organisation", world.trust_a.pk)
        matrix_locked = _locked_by_another_session("safety_riskmatrix", matrix_id)
    thread.join(timeout=TIMEOUT)

    assert not thread.is_alive()
    assert not isinstance(outcome["result"], BaseException), outcome["result"]
    assert not organisation_locked, f"{write} locks the trust's organisation row"
    assert not matrix_locked, f"{write} locks the risk matrix every deployment shares"


def _wait_for_lock_waiters(count: int) -> bool:
    """Until `count` sessions of the test database wait on a lock (row or table)."""
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= count:
                return True
            time.sleep(0.02)
    return False


def test_a_sign_off_racing_a_new_evidence_revision_is_superseded(safety, world, people):
    """A sign-off being recorded while the evidence it relies on gets a new revision: whichever
    commits first, the sign-off left current must cover the newest revision."""
    from onboarding.services.evidence.contributions import evidence_revise

    deployment = world.deployment_a
    small_signable_log(safety, deployment)
    # Statement-only evidence: no file scans are enqueued when these transactions commit.
    evidence = fx.trust_evidence(people.a_contributor, deployment, ["GOV-03"], title="Failover test")
    fx.accepted(people.reviewer, evidence, deployment)
    safety.control(safety.hazards(deployment)[0], revisions=[safety.latest_revision(evidence)])
    cso, contributor = safety.cso, people.a_contributor
    outcome: dict[str, object] = {}

    def sign() -> None:
        try:
            outcome["sign_off"] = sign_off_create(
                actor=cso, deployment=deployment, statement=STATEMENT, conditions=[], mfa_verified_at=recent_mfa()
            )
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcome["sign_off"] = error
        finally:
            connection.close()

    def revise() -> None:
        try:
            outcome["revision"] = evidence_revise(
                actor=contributor,
                evidence=evidence,
                statement="Re-run after the connector update.",
                effective_date=fx.EFFECTIVE,
                files=[],
                based_on_revision=1,
            )
        except BaseException as error:  # noqa: BLE001 - reported to the test
            outcome["revision"] = error
        finally:
            connection.close()

    signer, reviser = threading.Thread(target=sign, daemon=True), threading.Thread(target=revise, daemon=True)
    # Hold back audit inserts so the sign-off stops at its audit row, its snapshot built but not committed.
    with transaction.atomic():
        with connection.cursor() as cursor:
            _hold_audit_inserts(cursor)
        signer.start()
        assert _wait_for_lock_waiters(1), f"the sign-off never reached its audit row: {outcome!r}"
        reviser.start()
        assert _wait_for_lock_waiters(2), f"the revision never waited: {outcome!r}"
    signer.join(timeout=TIMEOUT)
    reviser.join(timeout=TIMEOUT)

    assert not signer.is_alive() and not reviser.is_alive()
    assert isinstance(outcome["sign_off"], SignOff), outcome["sign_off"]
    assert not isinstance(outcome["revision"], BaseException), outcome["revision"]
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is not None:
        now = snapshot_build(deployment)
        assert snapshot_sha256(now) == current.snapshot_sha256, (
            f"a current sign-off does not cover the log: {snapshot_changes(current.snapshot, now)}"
        )
    else:
        superseded = SignOff.objects.get(pk=outcome["sign_off"].pk)
        assert any("Failover test" in change for change in superseded.superseded_changes)
