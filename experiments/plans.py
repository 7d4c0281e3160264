"""Reading a pre-registered experiment plan: the checks every plan shares.

A plan is a JSON object committed before any of its results was computed
(``results/<experiment>/plan.json``); each experiment module adds the checks of its own fields.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["read_plan"]


def read_plan(
    path: str | Path, kind: str, keys: Sequence[str], stage_keys: Sequence[str] = ()
) -> dict[str, Any]:
    """The plan at ``path`` as a dict, with the fields ``keys`` present, ``delays`` ascending and
    not empty, and every stage (when the plan has ``stages``) holding ``stage_keys``. Any failure
    is a ValueError that names the ``kind`` of plan, the file and the field."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{kind} plan {path}: unreadable ({err})") from None
    if not isinstance(plan, dict):
        raise ValueError(f"{kind} plan {path}: not a JSON object")
    for key in keys:
        if key not in plan:
            raise ValueError(f"{kind} plan {path}: '{key}' is missing")
    delays = plan.get("delays")
    if delays is not None and (not delays or sorted(delays) != delays):
        raise ValueError(f"{kind} plan {path}: 'delays' must be ascending, not empty")
    for stage in plan.get("stages", ()) if stage_keys else ():
        for key in stage_keys:
            if key not in stage:
                raise ValueError(f"{kind} plan {path}: a stage lacks '{key}'")
    return plan
