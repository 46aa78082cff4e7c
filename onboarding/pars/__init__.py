"""PARS conformance check of a supplier's sample FHIR AuditEvents (ITI-38, ITI-39, RAD-75).

`parsing` reads JSON, Bundle or NDJSON input and validates its structure with fhir.resources;
`rules` holds the content rules; `report` runs them and renders the result. The codes the rules
look for are data (onboarding/data/pars_rules.json), versioned beside the onboarding framework.
"""
