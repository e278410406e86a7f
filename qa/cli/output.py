"""`--json` output: one JSON document per line on stdout, so that scripts can read a
command's result while people read the text form."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(data: Any) -> None:
    """One line, flushed at once: a reader of a batch sees each answer as it is made."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()
