"""Hazard library, hazard logs, risk matrix, sign-off, incidents and CSCR bundles (see docs/data-model.md)."""
