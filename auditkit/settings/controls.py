"""Compliance controls: which published controls a finding fails, from ``parameters/controls.yaml``.

The shipped file maps internet-exposed SMTP, SSH and RDP to CIS Microsoft Azure Foundations, PCI
DSS, NIST SP 800-53, SOC 2 and ISO/IEC 27001 (versions cited in the file). An audit folder's own
``parameters/controls.yaml`` (beside its ``audit.yaml``) replaces it, so users can extend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import ErrorDetails

from auditkit.settings.folders import read_yaml, settings_file
from auditkit.settings.schema import Port
from auditkit.settings.validation import UNKNOWN, FileModel, checked, unknown_first


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


Label = Annotated[Annotated[str, Field(min_length=1)] | int | float, AfterValidator(str)]  # 2022 or "v4.0.1"


class FrameworkEntry(FileModel):
    """One framework of ``frameworks:``; its controls are checked one by one (``ControlEntry``)."""

    id: Label
    name: Label
    version: Label
    controls: Annotated[list[Any], Field(min_length=1)]


class ControlEntry(FileModel):
    id: Annotated[str, Field(min_length=1)]  # text: YAML reads 7.1 as a number
    title: str
    ports: list[Port] = []  # none: every audited port


class ControlsFile(FileModel):
    frameworks: list[Any]


def _unknown(e: ErrorDetails, model: type[FileModel]) -> str:
    return f"unknown key {e['loc'][-1]!r} (known: {', '.join(model.model_fields)})"


def _framework_line(where: str, fw: Any, errors: list[ErrorDetails]) -> str:
    e = unknown_first(errors)
    if e["type"] == "model_type":
        return f"{where}: expected a mapping"
    if e["type"] in UNKNOWN:
        return f"{where}: {_unknown(e, FrameworkEntry)}"
    if e["loc"][0] == "controls":
        return f"{where} ({fw['id']}): 'controls' must be a non-empty list"
    return f"{where}: {e['loc'][0]!r} must be text"


def _control_line(where: str, errors: list[ErrorDetails]) -> str:
    e = unknown_first(errors)
    if e["type"] == "model_type":
        return f"{where}: expected a mapping"
    if e["type"] in UNKNOWN:
        return f"{where}: {_unknown(e, ControlEntry)}"
    if e["loc"][0] == "ports":
        return f"{where}: 'ports' must be a list of port numbers"
    return f"{where}: 'id' and 'title' must be text (quote ids such as \"7.1\")"


def load_controls(parameters_file: str | Path | None = None) -> list[Control]:
    """Every control of the controls file, checked: one-line errors name the file and the entry."""
    path = controls_file(parameters_file)
    data = checked(ControlsFile, read_yaml(path),
                   lambda _: f"{path}: expected one key, 'frameworks', holding a list")
    out: list[Control] = []
    for i, raw in enumerate(data.frameworks, 1):
        where = f"{path}: frameworks entry {i}"
        fw = checked(FrameworkEntry, raw, lambda errors, where=where, raw=raw: _framework_line(where, raw, errors))
        for j, c in enumerate(fw.controls, 1):
            cwhere = f"{where} ({fw.id}), control {j}"
            control = checked(ControlEntry, c, lambda errors, cwhere=cwhere: _control_line(cwhere, errors))
            out.append(Control(fw.id, fw.name, fw.version, control.id, control.title, tuple(control.ports)))
    return out


def controls_for(port: int, controls: list[Control]) -> list[Control]:
    return [c for c in controls if c.applies(port)]
