"""The versioned coding data the PARS rules read."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).resolve().parents[1] / "data" / "pars_rules.json"


@lru_cache(maxsize=1)
def pars_codes() -> dict[str, Any]:
    return json.loads(RULES_FILE.read_text(encoding="utf-8"))


def requirement_code() -> str:
    """The framework requirement whose evidence files are checked."""
    return pars_codes()["requirement_code"]
