"""Screens for clinical safety: the hazard log and its exports, hazards, controls and actions, the
CSO's queue and sign-off, go-live authorisation, incidents, supplier hazards and the risk matrix.

Each view fetches through a `..._visible_to(user)` selector (another organisation's objects are a
404, so "forbidden" and "missing" look alike to outsiders), then checks the person may act before
showing a form: someone who sees the object but lacks the role gets a 403 naming the role that may
(`RoleRule.require`). A PermissionDenied raised later by a service (the role revoked meanwhile)
stays a 404.

One module per subject: hazard_log, hazards, sign_off, incidents, supplier_hazards; common holds
what they share. safety.urls names each view by its module."""
