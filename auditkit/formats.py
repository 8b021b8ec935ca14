"""Write scan results as a terminal table, one JSON object, or CSV safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would run as a formula with a quote, so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def plain(value: Any) -> Any:
    """A value as plain JSON types: tuples to lists, numpy and pandas scalars to Python, NA to None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows as plain JSON-ready dicts."""
    cols = list(frame.columns)
    return [{c: plain(v) for c, v in zip(cols, row, strict=True)} for row in frame.itertuples(index=False)]


def to_json(obj: Mapping[str, Any]) -> str:
    return json.dumps(plain(obj), indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
    v = plain(value)
    return "" if v is None else v


def to_csv(frame: pd.DataFrame) -> str:
    """CSV, one row per DataFrame row; lists joined with ``;``; every text cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralise(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        w.writerow([neutralise(_cell(v)) for v in row])
    return buf.getvalue()


def to_table(frame: pd.DataFrame, columns: list[str], empty: str = "(none)") -> str:
    """A fixed-width text table of ``columns`` for a terminal; control characters are made visible."""
    if not len(frame):
        return empty + "\n"
    shown = frame[columns].copy()
    for c in columns:
        shown[c] = [visible(_cell(v)) for v in shown[c]]
    return shown.to_string(index=False) + "\n"


def visible(value: Any) -> str:
    """Text for a terminal: control characters (escape sequences from tenant text) shown as ``\\xNN``."""
    s = str(value)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in s)
