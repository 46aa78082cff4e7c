"""Every permission the portal defines is checked somewhere, and from one source.

The rules (`RoleRule`) are the only record of who may do what; django-guardian's object grants
are gone, so nothing can be granted that no check reads.
"""

import importlib
import re
import sys
import types
from pathlib import Path

from django.conf import settings

from nir_portal.accounts.permissions import RULES, RoleRule

ROOT = Path(__file__).resolve().parent.parent
APP_FOLDERS = ("nir_portal", "onboarding", "certificates", "safety", "dashboards")
# Every permissions module of every app, found on disk so that a new one cannot be left out.
PERMISSION_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for folder in APP_FOLDERS
    for path in (ROOT / folder).rglob("permissions.py")
)
SOURCES = [
    path
    for folder in (*APP_FOLDERS, "templates")
    for path in (ROOT / folder).rglob("*")
    if path.suffix in (".py", ".html") and "migrations" not in path.parts
]


def _rule_names() -> dict[str, str]:
    """Rule code -> the constant that holds it."""
    names = {}
    for module_name in PERMISSION_MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, RoleRule) and name.isupper():
                names[value.code] = name
    return names


def unchecked_rules(sources: list[Path]) -> set[str]:
    """Codes of rules that no source uses, by constant (outside its definition) or by code."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    unused = set()
    for code, name in _rule_names().items():
        uses = len(re.findall(rf"\b{name}\b", text)) - len(re.findall(rf"^{name} = RoleRule\(", text, re.M))
        if uses <= 0 and f'"{code}"' not in text.replace(f'code="{code}"', ""):
            unused.add(code)
    return unused


def test_every_rule_is_defined_in_a_permissions_module():
    assert set(_rule_names()) == set(RULES)


def test_every_rule_is_checked_somewhere():
    assert unchecked_rules(SOURCES) == set()


def test_a_rule_nobody_checks_is_detected(monkeypatch):
    # Given a permissions module defining a rule that no view, service or template asks
    module = types.ModuleType("never_checked_permissions")
    module.NEVER_CHECKED = RoleRule(code="test.never_checked", action="x", roles=frozenset(), parties=lambda obj: ())
    RULES.pop("test.never_checked")  # registered on creation; put back only for this test
    monkeypatch.setitem(RULES, "test.never_checked", module.NEVER_CHECKED)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(sys.modules[__name__], "PERMISSION_MODULES", [*PERMISSION_MODULES, module.__name__])

    # Then the check finds it
    assert unchecked_rules(SOURCES) == {"test.never_checked"}


def test_guardian_is_gone():
    assert "guardian" not in settings.INSTALLED_APPS
    assert not any("guardian" in backend for backend in settings.AUTHENTICATION_BACKENDS)
