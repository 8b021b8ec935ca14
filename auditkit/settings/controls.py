"""Compliance controls: which published controls a finding fails, from ``parameters/controls.yaml``.

The shipped file maps internet-exposed SMTP, SSH and RDP to CIS Microsoft Azure Foundations, PCI
DSS, NIST SP 800-53, SOC 2 and ISO/IEC 27001 (versions cited in the file). An audit folder's own
``parameters/controls.yaml`` (beside its ``audit.yaml``) replaces it, so users can extend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditkit.errors import InputError
from auditkit.settings.folders import read_yaml, settings_file


@dataclass(frozen=True)
class Control:
    framework: str  # short id, e.g. PCI-DSS
    framework_name: str
    version: str
    id: str
    title: str
    ports: tuple[int, ...]  # empty: every audited port

    @property
    def label(self) -> str:
        return f"{self.framework} {self.id}"

    def applies(self, port: int) -> bool:
        return not self.ports or int(port) in self.ports


def controls_file(parameters_file: str | Path | None = None) -> Path:
    """The controls file: beside the settings file in use, else the audit folder's, else the shipped one."""
    return settings_file("controls.yaml", parameters_file)


def load_controls(parameters_file: str | Path | None = None) -> list[Control]:
    """Every control of the controls file, checked: one-line errors name the file and the entry."""
    path = controls_file(parameters_file)
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) != {"frameworks"} or not isinstance(data["frameworks"], list):
        raise InputError(f"{path}: expected one key, 'frameworks', holding a list")
    out: list[Control] = []
    for i, fw in enumerate(data["frameworks"], 1):
        where = f"{path}: frameworks entry {i}"
        if not isinstance(fw, dict):
            raise InputError(f"{where}: expected a mapping")
        unknown = set(fw) - {"id", "name", "version", "controls"}
        if unknown:
            raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: id, name, version, controls)")
        for key in ("id", "name", "version"):
            if not isinstance(fw.get(key), str | int | float) or isinstance(fw.get(key), bool) or not str(fw[key]):
                raise InputError(f"{where}: {key!r} must be text")
        if not isinstance(fw.get("controls"), list) or not fw["controls"]:
            raise InputError(f"{where} ({fw['id']}): 'controls' must be a non-empty list")
        for j, c in enumerate(fw["controls"], 1):
            cwhere = f"{where} ({fw['id']}), control {j}"
            if not isinstance(c, dict):
                raise InputError(f"{cwhere}: expected a mapping")
            unknown = set(c) - {"id", "title", "ports"}
            if unknown:
                raise InputError(f"{cwhere}: unknown key {sorted(unknown)[0]!r} (known: id, title, ports)")
            if not isinstance(c.get("id"), str) or not c["id"] or not isinstance(c.get("title"), str):
                raise InputError(f"{cwhere}: 'id' and 'title' must be text (quote ids such as \"7.1\")")
            ports = c.get("ports", [])
            if not isinstance(ports, list) or not all(type(p) is int and 0 <= p <= 65535 for p in ports):
                raise InputError(f"{cwhere}: 'ports' must be a list of port numbers")
            out.append(Control(str(fw["id"]), str(fw["name"]), str(fw["version"]), c["id"], c["title"],
                               tuple(ports)))
    return out


def controls_for(port: int, controls: list[Control]) -> list[Control]:
    return [c for c in controls if c.applies(port)]
