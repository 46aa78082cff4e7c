"""The risk scheme's reference data: the default risk matrix and the national hazard library, and
ratings looked up on a matrix."""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from safety.models import (
    HazardLibrary,
    LibraryHazard,
    RiskMatrix,
)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BLOCKING_RATING = 4  # 4 and 5 must be reduced before sign-off
JUSTIFY_RATING = 3


@transaction.atomic
def safety_reference_data_load() -> tuple[RiskMatrix, HazardLibrary]:
    """Load the default risk matrix and the national hazard library. Safe to run again."""
    matrix_data = json.loads((DATA_DIR / "risk_matrix.json").read_text(encoding="utf-8"))
    matrix = RiskMatrix.objects.filter(version=matrix_data["version"]).first()
    if matrix is None:
        matrix = RiskMatrix.objects.create(
            version=matrix_data["version"],
            name=matrix_data["name"],
            severities=matrix_data["severities"],
            likelihoods=matrix_data["likelihoods"],
            ratings=matrix_data["ratings"],
            acceptability=matrix_data["acceptability"],
            is_default=not RiskMatrix.objects.filter(is_default=True).exists(),
        )
    library_data = json.loads((DATA_DIR / "hazard_library.json").read_text(encoding="utf-8"))
    library = HazardLibrary.objects.filter(version=library_data["version"]).first()
    if library is None:
        # Filled as a draft, then published: a published version's hazards are fixed (a trigger).
        library = HazardLibrary.objects.create(version=library_data["version"], status=HazardLibrary.Status.DRAFT)
        LibraryHazard.objects.bulk_create(
            [
                LibraryHazard(
                    library=library,
                    order=index,
                    **{
                        k: h[k]
                        for k in ("code", "name", "description", "clinical_impact", "causes", "example_controls")
                    },
                )
                for index, h in enumerate(library_data["hazards"])
            ]
        )
        library.status, library.published_at = HazardLibrary.Status.PUBLISHED, timezone.now()
        library.save(update_fields=["status", "published_at"])
    return matrix, library


def rating_for(matrix: RiskMatrix, severity: str, likelihood: str) -> int | None:
    if not severity or not likelihood:
        return None
    try:
        return matrix.rating(severity, likelihood)
    except KeyError:
        raise ValidationError(f"{severity}/{likelihood} is not on {matrix}.", code="not_on_matrix") from None
