"""The safety case after its first go-live: separation of duties, live supersession, incident
escalation, product version changes and decommissioning."""
