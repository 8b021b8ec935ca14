"""The fast output paths write exactly what the plain per-cell ones wrote (issue 14's constraint).

The reference functions below are the straightforward versions the kit used before: one Python
step per cell through ``formats.plain`` (unchanged), ``json.dumps`` and a per-character escape. They are compared with ``formats`` on
a generated tenant whose rule names, descriptions and tags hold hostile text.
"""

from __future__ import annotations

import csv
import io
import json
import random

import numpy as np
import pandas as pd
import pytest

import auditkit
from auditkit import formats
from auditkit.demo.synthetic import synthetic_nsgs

HOSTILE = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tTab", "evil\u202etxt.exe",
           "zero\u200bwidth", "bell\x07", "del\x7f", "tag\U000e0041", "Ünïcødé 😀", "line\u2028sep", "\x1b[31mred",
           "quote\" and \\ backslash", ""]
# Only the standard library's parser lets this through from an export, and orjson cannot write it.
LONE_SURROGATE = "lone\ud800surrogate"


def ref_records(frame: pd.DataFrame) -> list[dict]:
    cols = list(frame.columns)
    return [{c: formats.plain(v) for c, v in zip(cols, row, strict=True)} for row in frame.itertuples(index=False)]


def ref_json(obj) -> str:
    text = json.dumps(formats.plain(obj), indent=2, ensure_ascii=False)
    out = []
    for ch in text:
        if ch in "\n\t" or not formats.hidden(ch):
            out.append(ch)
            continue
        n = ord(ch)
        if n < 0x10000:
            out.append(f"\\u{n:04x}")
        else:
            n -= 0x10000
            out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
    return "".join(out) + "\n"


def ref_csv(frame: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([formats.neutralise(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        w.writerow([formats.neutralise(formats._cell(v)) for v in row])
    return buf.getvalue()


def ref_table(frame: pd.DataFrame, columns: list[str]) -> str:
    cells = frame[columns].copy()
    for c in columns:
        cells[c] = [formats.visible(formats._cell(v)) for v in cells[c]]
    return cells.to_string(index=False) + "\n"


@pytest.fixture(scope="module")
def result():
    rng = random.Random(14)
    records = list(synthetic_nsgs(500, subscriptions=7, full=True))
    for rec in records[::3]:
        rule = rng.choice(rec["properties"]["securityRules"])
        rule["name"] = rng.choice(HOSTILE) + rule["name"]
        rule["properties"]["description"] = rng.choice(HOSTILE)
        rec["tags"] = {rng.choice(HOSTILE) or "k": rng.choice(HOSTILE), "n": "1"}
    return auditkit.scan(records, include_shadowed=True)


def test_json_output_is_the_same_document_byte_for_byte(result) -> None:
    frames = {"findings": result.findings, "errors": result.errors, "broad": result.broad}
    fast = formats.to_json({**{k: formats.records(v) for k, v in frames.items()}, "summary": result.summary()})
    slow = ref_json({**{k: ref_records(v) for k, v in frames.items()}, "summary": result.summary()})
    assert len(result.findings) > 300
    assert fast == slow


def test_csv_and_table_outputs_are_the_same(result) -> None:
    f = result.findings
    assert formats.to_csv(f) == ref_csv(f)
    assert formats.to_csv(result.broad) == ref_csv(result.broad)
    cols = ["severity", "port", "subscription_id", "nsg_name", "rule_name", "priority", "sources", "description"]
    assert formats.to_table(f, cols) == ref_table(f, cols)


def test_missing_values_and_timestamps_are_written_alike() -> None:
    frame = pd.DataFrame({"f": [1.5, float("nan")], "i": pd.array([3, None], dtype="Int64"),
                          "t": [pd.Timestamp("2026-01-01", tz="UTC"), pd.NaT],
                          "s": pd.array(["x", None], dtype="string"), "b": [True, False],
                          "o": [("a", np.int64(2)), {"k": np.float64("nan")}]})
    assert formats.to_json({"rows": formats.records(frame)}) == ref_json({"rows": ref_records(frame)})
    assert formats.to_csv(frame) == ref_csv(frame)


@pytest.mark.parametrize("text", [*HOSTILE, LONE_SURROGATE])
def test_each_hostile_text_alone_is_escaped_alike(text: str) -> None:
    frame = pd.DataFrame({"rule_name": [text], "tags": [{text: text}]}, dtype=object)
    assert formats.to_json({"rows": formats.records(frame)}) == ref_json({"rows": ref_records(frame)})
    assert formats.to_csv(frame) == ref_csv(frame)
    assert formats.to_table(frame, ["rule_name", "tags"]) == ref_table(frame, ["rule_name", "tags"])
