#!/usr/bin/env python3
"""Check, before `make run` builds or starts anything, every system package it needs.

    python3 nir_portal/prerequisites.py [--python PYTHON]

Prints what is missing and the one apt-get command that installs all of it, and exits 1; prints
nothing and exits 0 when everything is there. Standard library only: it runs before the virtual
environment exists. The packages are Debian's (README, "Prerequisites").
"""

import argparse
import ctypes.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

if __package__:
    from nir_portal.clamav import daemon as clamav_daemon
else:  # run as a script, before the virtual environment exists: the folder beside this file
    from clamav import daemon as clamav_daemon  # type: ignore[no-redef]

NODE_MIN_MAJOR = 20
PYTHON_MIN = (3, 12)


@dataclass(frozen=True)
class Missing:
    what: str
    packages: tuple[str, ...]


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def check_python(python: str | None) -> list[Missing]:
    wanted = f"{PYTHON_MIN[0]}.{PYTHON_MIN[1]}"
    if not python:
        return [Missing(f"Python {wanted} or newer (python3.13, python3.12 or python3 on PATH)", ("python3",))]
    # `python -m venv` needs ensurepip, which Debian ships apart from the interpreter.
    if not _output([python, "-c", "import ensurepip, venv; print('ok')"]):
        return [Missing(f"the venv module of {python} (python3-venv)", ("python3-venv",))]
    return []


def check_node() -> list[Missing]:
    if not shutil.which("npm") or not shutil.which("node"):
        return [Missing(f"Node.js {NODE_MIN_MAJOR} or newer, with npm", ("nodejs", "npm"))]
    version = _output(["node", "--version"]).lstrip("v")
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < NODE_MIN_MAJOR:
        return [Missing(f"Node.js {NODE_MIN_MAJOR} or newer (found {version or 'unknown'})", ("nodejs", "npm"))]
    return []


def check_clamd(environ: dict[str, str]) -> list[Missing]:
    url = environ.get("CLAMAV_URL") or "tcp://127.0.0.1:3310"
    if clamav_daemon.clamd_binary() or clamav_daemon.ping(url):
        return []
    return [Missing("ClamAV's daemon, clamd, which scans every upload", ("clamav-daemon", "clamav"))]


def check_weasyprint() -> list[Missing]:
    missing = []
    for library, package in (
        ("pango-1.0", "libpango-1.0-0"),
        ("pangoft2-1.0", "libpangoft2-1.0-0"),
        ("harfbuzz-subset", "libharfbuzz-subset0"),
    ):
        if not ctypes.util.find_library(library):
            missing.append(Missing(f"lib{library}, which WeasyPrint uses to render PDFs", (package,)))
    fonts = _output(["fc-list", "--format", "%{file}\n"]) if shutil.which("fc-list") else ""
    if not fonts:
        missing.append(Missing("a font for WeasyPrint's PDFs (and fontconfig)", ("fontconfig", "fonts-dejavu-core")))
    return missing


def missing_prerequisites(python: str | None, environ: dict[str, str]) -> list[Missing]:
    return [*check_python(python), *check_node(), *check_clamd(environ), *check_weasyprint()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nir_portal/prerequisites.py")
    parser.add_argument("--python", default="", help="the interpreter the Makefile chose (empty: none found)")
    args = parser.parse_args(argv)
    missing = missing_prerequisites(args.python or None, dict(os.environ))
    if not missing:
        return 0
    packages = list(dict.fromkeys(p for m in missing for p in m.packages))
    lines = ["", "The portal needs these, which are not installed:"]
    lines += [f"  - {m.what}" for m in missing]
    lines += ["", "Install them with:", f"    sudo apt-get install -y {' '.join(packages)}", ""]
    print("\n".join(lines), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
