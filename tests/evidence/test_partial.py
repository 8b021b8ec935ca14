"""Exports that say they are incomplete are refused, on every path that reads an export; whole ones are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditkit import scan
from auditkit.collect import collect_from_file
from auditkit.evidence.partial import PartialInput, incompleteness, partial_accepted
from auditkit.evidence.snapshot import open_snapshot
from tests.builders import nsg, rule

ROWS = [nsg(rule("smtp", 100, port="25"), name=f"nsg-{i}") for i in range(3)]

INCOMPLETE = {
    "az skip_token": ({"count": 3, "data": ROWS, "skip_token": "ew0K", "total_records": 2500},
                      "holds 3 of 2500 records (az graph query returned one page: skip_token is set)"),
    "REST $skipToken": ({"totalRecords": 2500, "count": 3, "resultTruncated": "false", "$skipToken": "ew0K",
                         "data": ROWS}, "holds 3 of 2500 records (Resource Graph returned one page: $skipToken is set)"),
    "SDK skipToken": ({"skipToken": "x", "data": ROWS}, "holds 3 records (Resource Graph returned one page"),
    "total above rows, no token": ({"totalRecords": 2500, "count": 3, "data": ROWS},
                                   "holds 3 of 2500 records (totalRecords is 2500 and no page token is left)"),
    "truncated string": ({"totalRecords": 3, "count": 3, "resultTruncated": "TRUE", "data": ROWS},
                         "holds 3 records (resultTruncated is true: the service could not page the query)"),
    "truncated bool (SDK as_dict)": ({"total_records": 3, "result_truncated": True, "data": ROWS},
                                     "holds 3 records (result_truncated is true"),
    "table format": ({"totalRecords": 9, "data": {"columns": [{"name": "id"}], "rows": [["a"]]}},
                     "holds 1 of 9 records"),
}

WHOLE = {
    "az whole": {"count": 3, "data": ROWS, "skip_token": None, "total_records": 3},
    "REST whole": {"totalRecords": 3, "count": 3, "resultTruncated": "false", "data": ROWS, "facets": []},
    "empty token": {"skipToken": "", "result_truncated": "false", "data": ROWS},
    "ARM value": {"value": ROWS},
    "bare list": ROWS,
    "bool total is not a count": {"totalRecords": True, "data": ROWS},
}


def write(tmp_path: Path, obj) -> Path:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(obj))
    return p


@pytest.mark.parametrize("name", INCOMPLETE)
def test_an_incomplete_export_is_refused_in_one_line_naming_the_file(name: str, tmp_path: Path) -> None:
    obj, said = INCOMPLETE[name]
    p = write(tmp_path, obj)
    for read in (lambda: scan(p), lambda: collect_from_file(p, snapshots_dir=tmp_path / "s")):
        with pytest.raises(PartialInput) as info:
            read()
        msg = str(info.value)
        assert msg.startswith(f"{p}: {said}"), msg
        assert "--skip-token" in msg and "--allow-partial" in msg and "\n" not in msg
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


@pytest.mark.parametrize("name", WHOLE)
def test_a_whole_export_is_read(name: str, tmp_path: Path) -> None:
    assert incompleteness(WHOLE[name]) is None
    p = write(tmp_path, WHOLE[name])
    assert len(scan(p).findings) == 3
    path = collect_from_file(p, snapshots_dir=tmp_path / "s")
    assert "partial" not in open_snapshot(path).meta


def test_allow_partial_marks_the_snapshot(tmp_path: Path) -> None:
    p = write(tmp_path, INCOMPLETE["az skip_token"][0])
    path = collect_from_file(p, snapshots_dir=tmp_path / "s", allow_partial=True)
    snap = open_snapshot(path)
    assert snap.meta["partial"] == {"reason": "az graph query returned one page: skip_token is set",
                                    "records": 3, "total_records": 2500}
    assert snap.meta["counts"]["nsgs"] == 3


def test_accepting_is_scoped_and_noted(tmp_path: Path) -> None:
    p = write(tmp_path, INCOMPLETE["REST $skipToken"][0])
    with partial_accepted() as accepted:
        assert len(scan(p).findings) == 3
    assert [a.total_records for a in accepted] == [2500]
    with pytest.raises(PartialInput):
        scan(p)


def test_monthly_takes_a_partial_input_only_with_its_own_flag(tmp_path: Path) -> None:
    """In monthly, --allow-partial is render's (failed reports): it never also accepts a partial input."""
    import subprocess
    import sys

    p = write(tmp_path, INCOMPLETE["az skip_token"][0])
    base = [sys.executable, "-m", "auditkit", "monthly", "--from-file", str(p), "--snapshots", str(tmp_path / "s"),
            "--out", str(tmp_path / "r"), "--as-of", "2026-10-01T06:00:00Z"]
    for extra in ([], ["--allow-partial"]):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "--allow-partial-input" in r.stderr
        assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


@pytest.mark.parametrize(("obj", "said"), [
    ({"totalRecords": "2500", "data": ROWS}, "holds 3 of 2500 records (totalRecords is 2500"),
    ({"count": 2500, "data": ROWS}, "holds 3 of 2500 records (count is 2500 but the file holds 3 rows)"),
    ({"value": ROWS, "nextLink": "https://management.azure.com/x?$skiptoken=y"},
     "holds 3 records (the ARM list returned one page: nextLink is set)"),
], ids=["total as text", "count above the rows", "ARM list with nextLink"])
def test_envelopes_that_say_so_in_other_words_are_refused_too(obj, said, tmp_path: Path) -> None:
    p = write(tmp_path, obj)
    with pytest.raises(PartialInput) as info:
        scan(p)
    assert str(info.value).startswith(f"{p}: {said}"), str(info.value)
