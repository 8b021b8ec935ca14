"""parameters/exceptions.yaml read by auditkit.settings.accepted_risks: each entry checked, one line per mistake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from auditkit.errors import InputError
from auditkit.settings.accepted_risks import OPTIONAL, REQUIRED, ExceptionEntry, load_exceptions

SUB = "40000000-0000-4000-8000-000000000001"
NSG = f"/subscriptions/{SUB}/resourceGroups/rg-mail-edge/providers/Microsoft.Network/networkSecurityGroups/"
ENTRY = {"nsg": NSG + "nsg-mail-edge-subnet", "rule": "Allow-SMTP-To-Mail-Servers", "port": 25,
         "justification": "inbound MX", "approved_by": "ciso@example.com", "ticket": "RISK-1", "expires": "2026-10-15"}


def folder(tmp_path: Path, entries: list) -> tuple[Path, Path]:
    """A settings file with ``entries`` as its exceptions beside it (and no snapshots: these are settings tests)."""
    params = tmp_path / "parameters"
    params.mkdir(parents=True, exist_ok=True)
    (params / "audit.yaml").write_text("ports: [25, 22, 3389]\n")
    (params / "exceptions.yaml").write_text(yaml.safe_dump({"exceptions": entries}))
    return params / "audit.yaml", params / "exceptions.yaml"


def refusal(tmp_path: Path, entries: list) -> str:
    params, _ = folder(tmp_path, entries)
    with pytest.raises(InputError) as info:
        load_exceptions(params)
    return str(info.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"expires": None}, "missing expires"),
    ({"expires": "next year"}, "expires 'next year' is not a date"),
    ({"port": "smtp"}, "port 'smtp' is not a port number"),
    ({"nsg": "nsg-mail"}, "is not an NSG id"),
    ({"nsg": "/subscriptions/*/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n"},
     "is not an NSG id"),
    ({"approved_by": ""}, "approved_by must be non-empty text"),
    ({"approvd_by": "x"}, "unknown key 'approvd_by' \\(did you mean 'approved_by'\\?\\)"),
    ({"max_sources": "*"}, "max_sources must be a non-empty list"),
])
def test_bad_entries_are_one_line_errors_naming_the_entry(tmp_path: Path, change: dict, message: str) -> None:
    entry = {**ENTRY, **change}
    entry = {k: v for k, v in entry.items() if v is not None}
    params, _ = folder(tmp_path, [ENTRY, entry])
    with pytest.raises(InputError, match=f"exceptions.yaml: exceptions entry 2: .*{message}"):
        load_exceptions(params)


def test_shipped_file_is_empty_and_init_copies_it(tmp_path: Path, monkeypatch) -> None:
    from auditkit.settings import init_folder

    monkeypatch.chdir(tmp_path)
    assert load_exceptions() == []
    init_folder(tmp_path / "audit")
    assert (tmp_path / "audit" / "parameters" / "exceptions.yaml").is_file()


def test_an_entry_is_read_normalised(tmp_path: Path) -> None:
    params, _ = folder(tmp_path, [{**ENTRY, "nsg": " " + NSG.upper() + "NSG-*/ ", "rule": " Allow-* ", "port": " 25 ",
                                   "expires": date(2026, 10, 15), "max_sources": [" Internet ", "*"], "note": 1},
                                  {**ENTRY, "port": "*", "ticket": "RISK-2"}])
    first, second = load_exceptions(params)
    assert first.nsg == NSG.lower() + "nsg-*"
    assert (first.rule, first.port, first.expires, first.max_sources) == ("allow-*", 25, date(2026, 10, 15),
                                                                          ("internet", "*"))
    assert first.label == "exception 1 (RISK-1)"
    assert (second.port, second.max_sources, second.label) == (None, None, "exception 2 (RISK-2)")


def test_unknown_key_with_did_you_mean_is_one_line(tmp_path: Path) -> None:
    line = refusal(tmp_path, [{**ENTRY, "tickt": "RISK-9"}])
    assert line == (f"{tmp_path / 'parameters' / 'exceptions.yaml'}: exceptions entry 1: unknown key 'tickt' "
                    "(did you mean 'ticket'?)")


def test_wrong_type_is_one_line_naming_entry_and_key(tmp_path: Path) -> None:
    line = refusal(tmp_path, [ENTRY, ENTRY, {**ENTRY, "ticket": 1234}])
    assert line == f"{tmp_path / 'parameters' / 'exceptions.yaml'}: exceptions entry 3: ticket must be non-empty text, got 1234"
    line = refusal(tmp_path, [{**ENTRY, "port": True}])
    assert line.endswith("exceptions entry 1: port True is not a port number or '*'")


def test_missing_required_keys_are_one_line_naming_each(tmp_path: Path) -> None:
    entry = {k: v for k, v in ENTRY.items() if k not in ("ticket", "nsg")}
    line = refusal(tmp_path, [{**entry, "approvd_by": "x", "port": "smtp"}])  # missing is said first
    assert line == (f"{tmp_path / 'parameters' / 'exceptions.yaml'}: exceptions entry 1: missing nsg, ticket "
                    "(an accepted risk needs all of nsg, rule, port, justification, approved_by, ticket, expires)")


def test_unknown_keys_come_before_wrong_values_then_the_keys_in_checking_order(tmp_path: Path) -> None:
    assert refusal(tmp_path, [{**ENTRY, "zz": 1, "b": 2, "port": "smtp"}]).endswith("unknown key 'b'")
    assert refusal(tmp_path, [{**ENTRY, "ticket": "", "expires": "soon"}]).endswith("expires 'soon' is not a date "
                                                                                    "(YYYY-MM-DD)")


@pytest.mark.parametrize("content", ["- a\n", "exceptions: {a: 1}\n", "exceptions: []\nextra: 1\n", "other: []\n"])
def test_a_file_of_another_shape_is_one_line(tmp_path: Path, content: str) -> None:
    params, exceptions = folder(tmp_path, [])
    exceptions.write_text(content)
    with pytest.raises(InputError) as info:
        load_exceptions(params)
    assert str(info.value) == f"{exceptions}: expected 'exceptions:' followed by a list of entries"


def test_an_entry_that_is_not_a_mapping_is_one_line(tmp_path: Path) -> None:
    assert refusal(tmp_path, [ENTRY, "RISK-1"]).endswith(
        "exceptions entry 2: expected a mapping with nsg, rule, port, justification, approved_by, ticket, expires")


def test_the_key_lists_of_the_messages_are_the_model_keys() -> None:
    fields = ExceptionEntry.model_fields
    assert {k for k, f in fields.items() if f.is_required()} == set(REQUIRED)
    assert {k for k, f in fields.items() if not f.is_required()} == set(OPTIONAL)
