"""Random mutations of valid exports (type swaps, deletions, duplications, truncations) never
produce a traceback and never lose a rule silently: every rule of every NSG record is either in
the rules table or accounted for in ``errors``."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditkit
from auditkit.cli import main
from auditkit.errors import AuditkitError
from tests.builders import nsg, rule
from tests.fixtures import EXPORTS_DIR

SHAPES = [json.loads((EXPORTS_DIR / n).read_text()) for n in
          ("arm-list.json", "sdk-as-dict.json", "az-network-nsg-list.json", "az-graph-query.json")]
BUILT = [nsg(rule("a"), rule("b", 200, port="22", src="Internet"), rule("c", 300, access="Deny", port="*"),
             name="n1"),
         nsg(rule("d", ports=["25", "3389"], srcs=["0.0.0.0/1", "128.0.0.0/1"]), name="n2", attached=False)]
ODD_VALUES = [None, True, 0, -1, 1e308, "", "x" * 300, [], [1, 2], {}, {"id": 5}, "\u202e", "*", "25"]


def _paths(obj, prefix=()):
    """Every (path) in a JSON tree, containers included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


@st.composite
def mutated(draw):
    base = copy.deepcopy(draw(st.sampled_from([*SHAPES, BUILT])))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(base) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(base, path[:-1]), path[-1]
        op = draw(st.sampled_from(["swap", "delete", "duplicate"]))
        if op == "swap":
            parent[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif isinstance(parent, dict):
            parent[f"{key}_copy"] = copy.deepcopy(parent[key])
    return base


def _records(obj) -> list:
    if isinstance(obj, Mapping):
        obj = obj.get("data", obj.get("value", obj))
    return obj if isinstance(obj, list) else []


def _rule_items(rec: Mapping) -> tuple[int, int] | None:
    """(rule objects, other items) in a record's rule lists, wherever its shape keeps them; None
    when no rule list can be found."""
    holders = [rec.get("properties"), rec]
    for holder in holders:
        if not isinstance(holder, Mapping):
            continue
        lists = [holder.get(k) for k in ("securityRules", "defaultSecurityRules", "security_rules",
                                         "default_security_rules") if k in holder]
        if lists:
            items = [i for lst in lists if isinstance(lst, list) for i in lst]
            return sum(isinstance(i, Mapping) for i in items), sum(not isinstance(i, Mapping) for i in items)
    return None


@pytest.mark.slow(seconds=17)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutations_never_crash_and_never_lose_a_rule(obj) -> None:
    try:
        result = auditkit.scan(obj, allow_empty=True)
    except AuditkitError:
        return  # a one-line error for an input that is not an export at all
    errors = result.errors
    error_ids = set(errors["nsg_id"].astype(str).str.lower())
    seen: set[str] = set()
    for position, rec in enumerate(_records(obj)):
        if not isinstance(rec, Mapping) or str(rec.get("type", "microsoft.network/networksecuritygroups")).lower() \
                not in ("microsoft.network/networksecuritygroups",):
            continue
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid.strip():
            assert any(f"record #{position}" in e for e in error_ids), f"record #{position} without id, no error"
            continue
        key = rid.lower()
        if key in seen:
            continue  # a repeat: identical (one NSG) or reported as a differing duplicate
        seen.add(key)
        rows = result.rules[result.rules["nsg_key"] == key]
        in_table = key in set(result.nsgs["nsg_key"])
        items = _rule_items(rec)
        if not in_table:
            assert key in error_ids, f"{rid}: dropped without an error"
            continue
        assert items is not None
        objects, others = items
        assert len(rows) == objects, f"{rid}: {objects} rule objects, {len(rows)} in the table"
        not_objects = errors[(errors["nsg_id"].str.lower() == key) & errors["message"].str.contains("not a JSON object")]
        assert len(not_objects) == others, f"{rid}: {others} non-object rules, {len(not_objects)} reported"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(mutated(), st.floats(0.0, 1.0))
def test_mutated_and_truncated_files_through_the_cli(tmp_path: Path, obj, cut: float) -> None:
    text = json.dumps(obj)
    path = tmp_path / "export.json"
    path.write_text(text[: int(len(text) * cut)] if cut < 0.999 else text)
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["scan", str(path), "--allow-empty"])
    assert code in (0, 2)
    message = err.getvalue()
    assert "Traceback" not in message, message
    assert "internal error" not in message, message
    if code == 2:
        assert len(message.strip().splitlines()) == 1
        assert str(path) in message
