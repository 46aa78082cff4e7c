"""Audit the pinned dependency set (constraints.txt) for known vulnerabilities with pip-audit.

Exit status: 0 when every pinned package was checked and none has a known vulnerability; 1 when one
has; 2 when the vulnerability database could not be reached for some or all packages and
PIP_AUDIT_REQUIRED=true. Without PIP_AUDIT_REQUIRED an unreachable database is reported loudly but
does not fail, so `make lint` still works offline; set it wherever the network is expected (CI).
PIP_AUDIT_SERVICE chooses the database: pypi (the default) or osv.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CONSTRAINTS = BASE_DIR / "constraints.txt"


def main() -> int:
    service = os.environ.get("PIP_AUDIT_SERVICE", "pypi")
    required = os.environ.get("PIP_AUDIT_REQUIRED", "").lower() == "true"
    command = [
        sys.executable, "-m", "pip_audit", "--requirement", str(CONSTRAINTS), "--no-deps", "--disable-pip",
        "--vulnerability-service", service, "--format", "json", "--progress-spinner", "off", "--timeout", "15",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return unreachable(f"pip-audit did not answer ({last})", total=None, required=required, service=service)
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"VULNERABLE {dependency['name']}=={dependency['version']}: {vuln['id']} (fixed in: {fixed})")
    if vulnerable:
        print(f"pip-audit: {len(vulnerable)} pinned package(s) have known vulnerabilities.", file=sys.stderr)
        return 1
    if not audited:
        return unreachable(
            f"every package was skipped, e.g. {skipped[0]['skip_reason']}" if skipped else "nothing was checked",
            total=len(dependencies),
            required=required,
            service=service,
        )
    if skipped:
        names = ", ".join(d["name"] for d in skipped)
        print(f"pip-audit: {len(skipped)} of {len(dependencies)} pinned packages could not be checked: {names}")
        return 2 if required else 0
    print(f"pip-audit: no known vulnerabilities in the {len(audited)} pinned packages ({service} database).")
    return 0


def unreachable(reason: str, *, total: int | None, required: bool, service: str) -> int:
    count = f"the {total} pinned packages" if total else "the pinned packages"
    print(
        "\n"
        "**********************************************************************************************\n"
        f"  NOT AUDITED: pip-audit could not reach its vulnerability database ({service}),\n"
        f"  so none of {count} in constraints.txt was checked for known vulnerabilities.\n"
        f"  {reason}\n"
        "  Run `make lint` where PyPI's JSON API (or api.osv.dev, with PIP_AUDIT_SERVICE=osv) is\n"
        "  reachable; PIP_AUDIT_REQUIRED=true makes this a failure.\n"
        "**********************************************************************************************",
        file=sys.stderr,
    )
    return 2 if required else 0


if __name__ == "__main__":
    sys.exit(main())
