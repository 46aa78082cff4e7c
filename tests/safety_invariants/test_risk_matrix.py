"""The risk matrix: the NHS example rating table cell by cell, what each rating means, and that a
rating is always looked up on the matrix version the assessment records, never typed in."""

import pytest
from django.core.exceptions import ValidationError

from onboarding import services as onboarding_services
from safety.models import DeploymentHazard, HazardChange, RiskMatrix
from safety.services.hazards import HAZARD_FIELDS
from safety.services.reference import rating_for
from safety.snapshots import snapshot_build
from tests import factories

SEVERITIES = ["minor", "significant", "considerable", "major", "catastrophic"]

# Typed from domain.md section 5 (rows: likelihood; columns: Minor .. Catastrophic), not read
# from the matrix data, so a wrong cell in the data or the lookup fails here.
NHS_EXAMPLE_TABLE = {
    "very_high": [3, 4, 4, 5, 5],
    "high": [2, 3, 3, 4, 5],
    "medium": [2, 2, 3, 3, 4],
    "low": [1, 2, 2, 3, 4],
    "very_low": [1, 1, 2, 2, 3],
}
CELLS = [
    (likelihood, severity, row[column])
    for likelihood, row in NHS_EXAMPLE_TABLE.items()
    for column, severity in enumerate(SEVERITIES)
]
ACCEPTABILITY = {
    1: ["acceptable", "no further action"],
    2: ["acceptable", "cost of further reduction outweighs the benefit"],
    3: ["undesirable", "further risk reduction is impractical"],
    4: ["mandatory elimination or control"],
    5: ["unacceptable"],
}


@pytest.fixture
def matrix(safety_reference) -> RiskMatrix:
    return safety_reference


def test_the_table_has_25_cells():
    assert len(CELLS) == 25
    assert len({(likelihood, severity) for likelihood, severity, _ in CELLS}) == 25


@pytest.mark.parametrize(("likelihood", "severity", "expected"), CELLS)
def test_rating_is_the_nhs_example_lookup(matrix, safety, likelihood, severity, expected):
    # Given the default matrix and a hazard in a deployment's log
    assert matrix.rating(severity, likelihood) == expected
    assert rating_for(matrix, severity, likelihood) == expected
    hazard = safety.hazards()[0]
    # The residual is scored on the mirrored cell, so initial and residual are looked up independently.
    mirror_likelihood, mirror_severity, mirror_expected = CELLS[
        len(CELLS) - 1 - CELLS.index((likelihood, severity, expected))
    ]

    # When the CSO scores it on this cell
    safety.assess(hazard, (severity, likelihood), (mirror_severity, mirror_likelihood))

    # Then the stored ratings are the table's
    hazard = safety.fresh(hazard)
    assert (hazard.initial_severity, hazard.initial_likelihood, hazard.initial_rating) == (
        severity,
        likelihood,
        expected,
    )
    assert (hazard.residual_severity, hazard.residual_likelihood, hazard.residual_rating) == (
        mirror_severity,
        mirror_likelihood,
        mirror_expected,
    )
    assert hazard.risk_matrix_id == matrix.pk


def test_matrix_scales_are_in_order_and_labelled(matrix):
    assert [s["code"] for s in matrix.severities] == SEVERITIES
    assert [s["label"] for s in matrix.severities] == ["Minor", "Significant", "Considerable", "Major", "Catastrophic"]
    assert [item["code"] for item in matrix.likelihoods] == ["very_low", "low", "medium", "high", "very_high"]
    assert matrix.label("likelihoods", "very_high") == "Very high"


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_acceptability_of_each_rating(matrix, rating):
    text = matrix.acceptability[str(rating)].lower()
    for phrase in ACCEPTABILITY[rating]:
        assert phrase in text, f"rating {rating}: {text!r} should say {phrase!r}"
    assert set(matrix.acceptability) == {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize("field", ["initial_rating", "residual_rating", "rating"])
def test_a_rating_is_never_typed_in(safety, field):
    # Given a scored hazard
    hazard = safety.assess(safety.hazards()[0], ("major", "high"), ("minor", "low"))
    assert field not in HAZARD_FIELDS

    # When someone tries to type a rating
    with pytest.raises(ValueError, match=field):
        safety.update(hazard, **{field: 1, "operating_limits": "Typed with a rating"})

    # Then nothing was saved
    stored = safety.fresh(hazard)
    assert (stored.initial_rating, stored.residual_rating, stored.version) == (4, 1, hazard.version)
    assert stored.operating_limits == ""


def test_a_rating_smuggled_onto_the_object_is_recomputed(safety, matrix):
    # Given a hazard whose in-memory copy carries made-up ratings
    hazard = safety.assess(safety.hazards()[0], ("catastrophic", "very_high"), ("major", "medium"))
    hazard.initial_rating = 1
    hazard.residual_rating = 1

    # When another field is edited through the service
    safety.update(hazard, operating_limits="Only while the RIS interface is monitored.")

    # Then every stored rating in the log equals the lookup
    stored = safety.fresh(hazard)
    assert (stored.initial_rating, stored.residual_rating) == (5, 3)
    for entry in DeploymentHazard.objects.filter(initial_rating__isnull=False):
        assert entry.initial_rating == entry.risk_matrix.rating(entry.initial_severity, entry.initial_likelihood)
        assert entry.residual_rating == entry.risk_matrix.rating(entry.residual_severity, entry.residual_likelihood)


@pytest.mark.parametrize(
    ("severity", "likelihood"),
    [
        ("deadly", "high"),
        ("major", "often"),
        ("Major", "High"),  # labels, not codes
        ("major", "very high"),
    ],
)
def test_codes_not_on_the_matrix_are_refused(safety, matrix, severity, likelihood):
    hazard = safety.hazards()[0]
    with pytest.raises(KeyError):
        matrix.rating(severity, likelihood)
    with pytest.raises(ValidationError) as refused:
        safety.update(hazard, initial_severity=severity, initial_likelihood=likelihood)
    assert refused.value.code == "not_on_matrix"
    assert str(matrix) in refused.value.messages[0]
    stored = safety.fresh(hazard)
    assert (stored.initial_severity, stored.initial_rating, stored.version) == ("", None, hazard.version)


def test_half_an_assessment_is_refused(safety):
    hazard = safety.hazards()[0]
    with pytest.raises(ValidationError) as refused:
        safety.update(hazard, residual_severity="major")
    assert "residual_likelihood" in refused.value.message_dict
    assert safety.fresh(hazard).residual_rating is None


def test_every_assessment_records_the_matrix_version(safety, matrix, world, people):
    # Given a log assessed and signed off under the default matrix
    safety.make_signable()
    sign_off = safety.sign()
    assert sign_off.snapshot["risk_matrix"] == {"version": matrix.version, "name": matrix.name}
    assert all(h.risk_matrix_id == matrix.pk for h in safety.hazards())
    change = HazardChange.objects.filter(hazard__deployment=world.deployment_a, summary="Assessment updated").first()
    assert change is not None and "residual_rating" in change.changes

    # When a new matrix version becomes the default, with a different scheme
    ratings = {likelihood: dict(zip(SEVERITIES, [5] * 5, strict=True)) for likelihood in NHS_EXAMPLE_TABLE}
    RiskMatrix.objects.filter(pk=matrix.pk).update(is_default=False)
    stricter = RiskMatrix.objects.create(
        version=matrix.version + 1,
        name="Stricter local scheme",
        severities=matrix.severities,
        likelihoods=matrix.likelihoods,
        ratings=ratings,
        acceptability=matrix.acceptability,
        is_default=True,
    )

    # Then the existing log keeps scoring on the version it recorded
    hazard = safety.assess(
        safety.hazards()[0],
        ("major", "low"),
        ("minor", "very_low"),
        operating_limits="Rescored after the scheme changed",
    )
    assert hazard.risk_matrix_id == matrix.pk
    assert safety.fresh(hazard).residual_rating == 1
    assert snapshot_build(world.deployment_a)["risk_matrix"]["version"] == matrix.version

    # And a deployment opened now records, and scores on, the new version
    version = factories.product_version(world.supplier, name="Second connector")
    deployment = onboarding_services.deployment_create(
        actor=world.national_admin,
        organisation=world.trust_a,
        product_version=version,
        name="Trust A NIR 2",
    )
    assert deployment.risk_plan.risk_matrix_id == stricter.pk
    new_hazard = safety.hazards(deployment)[0]
    assert new_hazard.risk_matrix_id == stricter.pk
    new_hazard = safety.assess(new_hazard, ("minor", "very_low"), ("minor", "very_low"))
    assert safety.fresh(new_hazard).residual_rating == 5
    assert snapshot_build(deployment)["risk_matrix"] == {"version": stricter.version, "name": stricter.name}
