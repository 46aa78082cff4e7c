"""Background jobs of the certificate register. Each calls a service and is safe to run twice."""

from certificates.services import certificate_alerts_send
from nir_portal.periodic import periodic_task


@periodic_task(name="certificates.tasks.certificates_daily_check")
def certificates_daily_check() -> dict:
    """Daily, from beat: expiry alerts at 90, 30, 14 and 7 days and on expiry, each sent once."""
    return certificate_alerts_send()
