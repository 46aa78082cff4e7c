"""Signed Clinical Safety Case Report (CSCR) bundles.

- `document`: the CSCR's content, from a sign-off's snapshot, rendered to PDF by WeasyPrint.
- `signing`: the portal's signing key, PAdES signatures on the PDF, a detached CMS signature on
  the manifest, RFC 3161 timestamps when a timestamp authority is configured.
- `bundle`: the ZIP and its manifest, written atomically to the "cscr" storage.
- `verification`: checks a bundle with nothing but the bundle itself (and, optionally, the
  certificates to trust); no database.
"""
