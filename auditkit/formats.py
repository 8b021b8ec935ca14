"""Write results as a terminal table, one JSON object, or CSV safe to open in a spreadsheet, and
show untrusted text as text everywhere: control characters and invisible format characters
(bidirectional overrides U+202A-U+202E and U+2066-U+2069, zero-width characters) written by
whoever manages the tenant are shown escaped, never interpreted."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import unicodedata
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
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
    """DataFrame rows as dicts for ``to_json``, built column by column, not cell by cell.

    Scalars are plain Python; nested tuples, dicts and numpy values are left for ``to_json``,
    which writes them as ``plain`` would (tuples as lists, NaN and NA as null).
    """
    cols = [str(c) for c in frame.columns]
    values = [_plain_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)] if cols else \
        [{} for _ in range(len(frame))]


def _plain_column(column: pd.Series) -> list:
    """One column's values converted in bulk: numpy scalars to Python, NaN and NA to None."""
    dtype = column.dtype
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(dtype, pd.DatetimeTZDtype):
        return column.to_numpy(dtype=object, na_value=None).tolist()
    if dtype.kind in "biu":
        return column.to_numpy().tolist()
    if dtype.kind == "f":
        return [None if v != v else v for v in column.to_numpy().tolist()]
    out = column.to_numpy(dtype=object).tolist()
    simple = (str, int, bool, tuple, dict, list)
    return [v if v.__class__ in simple else plain(v) for v in out]


# Categories never shown raw: controls, format characters (bidi, zero-width), line and paragraph
# separators, private use, surrogates, unassigned.
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else (f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")


def hidden(ch: str) -> bool:
    """A character that must be shown escaped (it would be invisible or reorder the text around it)."""
    return unicodedata.category(ch) in HIDDEN


def visible(value: Any) -> str:
    """Text for a terminal: every non-printable character (escape sequences, bidi overrides,
    zero-width characters) shown as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``."""
    s = str(value)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() else _code(ch) for ch in s)


def shown(value: Any, keep: str = "") -> str:
    """Like ``visible`` but only for hidden characters (text may keep other spaces and ``keep``)."""
    s = str(value)
    if s.isprintable():
        return s
    return "".join(_code(ch) if hidden(ch) and ch not in keep else ch for ch in s)


def shell_quote(value: Any) -> str:
    """A shell word for ``value``: ``shlex.quote``, or bash's ``$'...'`` with escapes when the text
    holds hidden characters, so that the command both shows them and still names the right object."""
    s = str(value)
    if s.isprintable():
        return shlex.quote(s)
    out = []
    for ch in s:
        if ch == "\\" or ch == "'":
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(_code(ch))
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


# Characters JSON text may hold as themselves (json.dumps already escapes those below U+0020).
_NOT_PLAIN_ASCII = re.compile("[^\x20-\x7e\n]")


def _json_hidden(text: str) -> str:
    """Hidden characters in JSON text as \\u escapes (surrogate pairs above U+FFFF): still valid JSON.

    Each distinct character outside printable ASCII is classified once, so a large document costs
    one regular-expression pass rather than a Python step per character.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    escapes = {ch: _json_escape(ch) for ch in set(_NOT_PLAIN_ASCII.findall(text)) if ch != "\t" and hidden(ch)}
    if not escapes:
        return text
    return re.sub("[" + "".join(re.escape(ch) for ch in escapes) + "]", lambda m: escapes[m.group()], text)


def _json_escape(ch: str) -> str:
    n = ord(ch)
    if n < 0x10000:
        return f"\\u{n:04x}"
    n -= 0x10000
    return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"


def to_json(obj: Mapping[str, Any]) -> str:
    """One JSON document; hidden characters of tenant text are written as ``\\uNNNN`` escapes."""
    try:
        text = orjson.dumps(obj, default=_orjson_default,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except TypeError:
        # What orjson refuses (a lone surrogate, which the standard library's parser accepts from
        # an export; an integer beyond 64 bits) is written by the standard library, as before.
        text = json.dumps(plain(obj), indent=2, ensure_ascii=False)
    return _json_hidden(text) + "\n"


def _orjson_default(value: Any) -> Any:
    """What orjson cannot write itself (numpy and pandas scalars, NA, timestamps), as ``plain`` makes it."""
    out = plain(value)
    if out is value:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        return shown(json.dumps(plain(value), ensure_ascii=False, sort_keys=True))
    if isinstance(value, list | tuple | np.ndarray):
        return shown(";".join(str(v) for v in value))
    if isinstance(value, Mapping):
        return shown(json.dumps(plain(value), ensure_ascii=False, sort_keys=True))
    v = plain(value)
    return "" if v is None else (shown(v) if isinstance(v, str) else v)


def to_csv(frame: pd.DataFrame) -> str:
    """CSV, one row per DataFrame row; lists joined with ``;``; every text cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralise(str(c)) for c in frame.columns])
    w.writerows(zip(*(_column_cells(frame.iloc[:, i], lambda v: neutralise(_cell(v)))
                      for i in range(frame.shape[1])), strict=True))
    return buf.getvalue()


def _column_cells(column: pd.Series, convert: Any) -> list:
    """``convert`` applied to each cell of ``column``, once per distinct value where values can be
    hashed (rule fields repeat a few values across thousands of rows)."""
    values = column.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
    except TypeError:  # cells holding lists or objects
        return [convert(v) for v in values]
    converted = np.empty(len(uniques), dtype=object)
    converted[:] = [convert(u) for u in uniques]
    return converted[codes].tolist()


def to_table(frame: pd.DataFrame, columns: list[str], empty: str = "(none)") -> str:
    """A fixed-width text table of ``columns`` for a terminal; control characters are made visible."""
    if not len(frame):
        return empty + "\n"
    cells = pd.DataFrame({c: _column_cells(frame[c], lambda v: visible(_cell(v))) for c in columns})
    return cells.to_string(index=False) + "\n"
