"""What the register tells the layers above it.

`certificate_expired` is sent once the transaction that recorded a live certificate's expiry has
committed, with `entry_id`, `revision_id`, `deployment_ids` (every deployment relying on it) and
`reason` (a sentence for the CSO). Clinical safety listens and flags the deployments' "certificate
expiry" hazard for re-review; the register itself knows nothing of hazards.
"""

from django.dispatch import Signal

certificate_expired = Signal()
