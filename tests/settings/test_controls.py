"""parameters/controls.yaml read by auditkit.settings.controls: replaceable per audit folder, checked entry by entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditkit.errors import InputError
from auditkit.settings import load_settings
from auditkit.settings.controls import controls_for, load_controls

FW = {"id": "HOUSE", "name": "House rules", "version": "1",
      "controls": [{"id": "MAIL-1", "title": "No open relay", "ports": [25]}]}


def refusal(tmp_path: Path, data) -> tuple[str, Path]:
    """The error line for a controls file holding ``data`` beside a settings file, and that file's path."""
    (tmp_path / "audit.yaml").write_text("ports: [25]\n")
    path = tmp_path / "controls.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    with pytest.raises(InputError) as info:
        load_controls(tmp_path / "audit.yaml")
    return str(info.value), path


def test_controls_file_can_be_replaced_and_is_checked(tmp_path: Path, monkeypatch) -> None:
    from auditkit.settings import init_folder

    controls = load_controls()
    assert {c.label for c in controls} >= {"CIS-Azure 7.1", "CIS-Azure 7.2", "PCI-DSS 1.3.1", "PCI-DSS 1.4.2",
                                           "NIST-800-53 SC-7", "SOC2 CC6.6", "ISO27001 A.8.20", "ISO27001 A.8.22"}
    assert [c.label for c in controls if c.applies(25) and c.framework == "CIS-Azure"] == []
    init_folder(tmp_path / "audit")
    (tmp_path / "audit" / "parameters" / "controls.yaml").write_text(
        "frameworks:\n  - id: HOUSE\n    name: House rules\n    version: '1'\n    controls:\n"
        "      - id: MAIL-1\n        title: No open relay\n        ports: [25]\n")
    monkeypatch.chdir(tmp_path / "audit")
    assert [c.label for c in load_controls()] == ["HOUSE MAIL-1"]
    (tmp_path / "audit" / "parameters" / "controls.yaml").write_text(
        "frameworks:\n  - id: HOUSE\n    name: x\n    version: '1'\n    controls:\n      - id: 7.1\n        title: t\n")
    with pytest.raises(InputError, match="frameworks entry 1 \\(HOUSE\\), control 1.*quote ids"):
        load_controls()
    assert load_settings().ports == (25, 22, 3389)


def test_numbers_as_versions_are_text_and_no_ports_is_every_port(tmp_path: Path) -> None:
    (tmp_path / "audit.yaml").write_text("ports: [25]\n")
    (tmp_path / "controls.yaml").write_text(yaml.safe_dump({"frameworks": [
        {**FW, "version": 2022, "controls": [{"id": "A.8.20", "title": "Networks security"}, *FW["controls"]]}]}))
    every, mail = load_controls(tmp_path / "audit.yaml")
    assert (every.version, every.ports, every.label) == ("2022", (), "HOUSE A.8.20")
    assert [c.label for c in controls_for(22, [every, mail])] == ["HOUSE A.8.20"]
    assert [c.label for c in controls_for(25, [every, mail])] == ["HOUSE A.8.20", "HOUSE MAIL-1"]


def test_unknown_key_is_one_line_naming_entry_control_and_key(tmp_path: Path) -> None:
    line, path = refusal(tmp_path, {"frameworks": [FW, {**FW, "controls": [{**FW["controls"][0], "titel": "x"}]}]})
    assert line == f"{path}: frameworks entry 2 (HOUSE), control 1: unknown key 'titel' (known: id, title, ports)"
    line, path = refusal(tmp_path, {"frameworks": [{**FW, "vesion": "2"}]})
    assert line == f"{path}: frameworks entry 1: unknown key 'vesion' (known: id, name, version, controls)"


@pytest.mark.parametrize(("change", "message"), [
    ({"name": True}, "frameworks entry 1: 'name' must be text"),
    ({"version": ""}, "frameworks entry 1: 'version' must be text"),
    ({"controls": []}, "frameworks entry 1 (HOUSE): 'controls' must be a non-empty list"),
    ({"controls": [{"id": "MAIL-1", "title": "t", "ports": [25, "22"]}]},
     "frameworks entry 1 (HOUSE), control 1: 'ports' must be a list of port numbers"),
    ({"controls": [{"id": "MAIL-1", "title": "t", "ports": [70000]}]},
     "frameworks entry 1 (HOUSE), control 1: 'ports' must be a list of port numbers"),
    ({"controls": [{"id": "MAIL-1", "title": None}]},
     "frameworks entry 1 (HOUSE), control 1: 'id' and 'title' must be text (quote ids such as \"7.1\")"),
    ({"controls": ["MAIL-1"]}, "frameworks entry 1 (HOUSE), control 1: expected a mapping"),
])
def test_wrong_type_is_one_line_naming_entry_and_key(tmp_path: Path, change: dict, message: str) -> None:
    line, path = refusal(tmp_path, {"frameworks": [{**FW, **change}]})
    assert line == f"{path}: {message}"


def test_missing_key_is_one_line_naming_entry_and_key(tmp_path: Path) -> None:
    line, path = refusal(tmp_path, {"frameworks": [{k: v for k, v in FW.items() if k != "name"}]})
    assert line == f"{path}: frameworks entry 1: 'name' must be text"
    line, path = refusal(tmp_path, {"frameworks": [{**FW, "controls": [{"title": "t"}]}]})
    assert line == f"{path}: frameworks entry 1 (HOUSE), control 1: 'id' and 'title' must be text (quote ids such as \"7.1\")"


def test_unknown_keys_are_said_before_wrong_values(tmp_path: Path) -> None:
    line, _ = refusal(tmp_path, {"frameworks": [{**FW, "name": 5.5, "zz": 1, "b": 2, "controls": [5]}]})
    assert line.endswith("frameworks entry 1: unknown key 'b' (known: id, name, version, controls)")


@pytest.mark.parametrize("content", ["", "- a\n", "frameworks:\n", "frameworks: {a: 1}\n", "frameworks: []\nx: 1\n"])
def test_a_file_of_another_shape_is_one_line(tmp_path: Path, content: str) -> None:
    line, path = refusal(tmp_path, content)
    assert line == f"{path}: expected one key, 'frameworks', holding a list"
