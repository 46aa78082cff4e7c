"""What waits for a person on the trust's dashboard, by their roles in the organisation."""

from dataclasses import dataclass, field

from django.db.models import (
    Exists,
    OuterRef,
    QuerySet,
)

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Deployment
from onboarding.selectors import (
    review_queue_for,
)
from safety.models import GoLiveAuthorisation, SignOff
from safety.selectors import cso_review_queue

# --- what waits for the person, on the trust's dashboard ----------------------------------------


@dataclass
class Waiting:
    reviews: list = field(default_factory=list)
    reviews_count: int = 0
    cso_hazards: list = field(default_factory=list)
    cso_hazards_count: int = 0
    cso_sign_offs: list = field(default_factory=list)
    go_live: list = field(default_factory=list)
    go_live_count: int = 0
    is_reviewer: bool = False
    is_cso: bool = False
    is_approver: bool = False

    @property
    def shows_anything(self) -> bool:
        return self.is_reviewer or self.is_cso or self.is_approver


WAITING_SHOWN = 10


def trust_waiting(*, user, organisation: Organisation, scope: QuerySet[Deployment]) -> Waiting:
    """What waits for this person's roles in the organisation: evidence to review (deployment
    lead, CSO), hazards and sign-offs needing the CSO, and go-live awaiting the executive approver.
    A fixed number of queries."""

    roles = account_permissions.roles_in(user, organisation)
    waiting = Waiting(
        is_reviewer=bool(roles & {Role.CSO, Role.DEPLOYMENT_LEAD}),
        is_cso=Role.CSO in roles,
        is_approver=Role.EXECUTIVE_APPROVER in roles,
    )
    ids = scope.order_by().values("pk")
    if waiting.is_reviewer:
        queue = review_queue_for(user).filter(deployment__in=ids)
        waiting.reviews = list(queue[:WAITING_SHOWN])
        waiting.reviews_count = queue.count()
    if waiting.is_cso:
        queue = cso_review_queue(user)
        hazards = queue.hazards.filter(deployment__in=ids)
        waiting.cso_hazards = list(hazards[:WAITING_SHOWN])
        waiting.cso_hazards_count = hazards.count()
        waiting.cso_sign_offs = list(queue.sign_offs.filter(deployment__in=ids)[:WAITING_SHOWN])
    if waiting.is_approver:
        authorised = GoLiveAuthorisation.objects.filter(sign_off=OuterRef("pk"))
        signed = (
            SignOff.objects.filter(deployment__in=ids, status=SignOff.Status.CURRENT, needs_re_review=False)
            .exclude(Exists(authorised))
            .select_related("deployment__organisation")
            .order_by("signed_at", "pk")
        )
        waiting.go_live = list(signed[:WAITING_SHOWN])
        waiting.go_live_count = signed.count()
    return waiting
