"""parameters/audit.yaml: the shipped file is the defaults, a user's file is merged on top and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditkit.errors import InputError
from auditkit.settings import defaults, load_settings
from auditkit.settings.schema import AuditSettings

ROOT = Path(__file__).resolve().parents[2]


def _models(model: type) -> list[type]:
    """``model`` and every model nested in it."""
    out = [model]
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
            out += _models(field.annotation)
    return out


def _refusal(tmp_path: Path, text: str) -> str:
    p = tmp_path / "audit.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as info:
        load_settings(p)
    return str(info.value)


def test_defaults_are_the_shipped_parameters_file(tmp_path: Path, monkeypatch) -> None:
    shipped = yaml.safe_load((ROOT / "parameters" / "audit.yaml").read_text())
    assert shipped == defaults()
    monkeypatch.chdir(tmp_path)  # no audit folder here: the shipped defaults apply as they are
    monkeypatch.delenv("AUDITKIT_PARAMETERS", raising=False)
    s = load_settings()
    assert s.raw == shipped
    assert s.source == "built-in"


def test_shipped_defaults_name_no_mail_gateway() -> None:
    # Documentation prefixes as a real tenant's "trusted" sources would end up in az commands.
    assert defaults()["flows"]["mail_gateways"] == []


def test_parameters_override(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("ports: [587]\ntags:\n  owner:\n    keys: [custodian]\n")
    s = load_settings(p)
    assert s.ports == (587,)
    assert s.tag_keys("owner") == ("custodian",)
    assert s.tag_keys("expiry") == tuple(defaults()["tags"]["expiry"]["keys"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("ports: [smtp]\n")
    with pytest.raises(InputError, match="ports"):
        load_settings(bad)


def test_the_code_holds_no_defaults_the_shipped_file_holds_them_all() -> None:
    # One source of truth: every key of the model is required, so the shipped file must name it.
    for model in _models(AuditSettings):
        assert [name for name, f in model.model_fields.items() if not f.is_required()] == [], model
    assert AuditSettings.model_validate(defaults()).model_dump() == defaults()


def test_model_keys_follow_the_shipped_file(tmp_path: Path) -> None:
    # The first mistake in the file's order is the one reported, as when the file was walked key by key.
    shipped = defaults()
    assert list(AuditSettings.model_fields) == list(shipped)
    assert list(AuditSettings.model_fields["tags"].annotation.model_fields) == list(shipped["tags"])
    assert list(AuditSettings.model_fields["flows"].annotation.model_fields) == list(shipped["flows"])
    line = _refusal(tmp_path, "flow: 1\nflows:\n  max_prefix: 99\nports: [x]\n")
    assert line == f"{tmp_path / 'audit.yaml'}: ports entry 1: must be a whole number, not the text 'x'"


def test_settings_read_the_checked_values(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("tags:\n  environment:\n    production: [PROD]\nflows:\n  mail_gateways: [203.0.113.0/24]\n"
                 "  min_bytes: 0\n  max_prefix: 32\n  min_window_days: 7\n  max_file_mb: 1\n")
    s = load_settings(p)
    assert s.production_values == ("prod",)
    assert s.mail_gateways == ("203.0.113.0/24",)
    assert (s.min_bytes, s.max_prefix, s.min_window_days, s.max_file_mb) == (0, 32, 7, 1)
    assert s.description_keys("owner") == ("owner",)
    assert s.description_keys("expiry") == ()


def test_unknown_key_is_one_line_with_did_you_mean(tmp_path: Path) -> None:
    line = _refusal(tmp_path, "flows:\n  min_byts: 10\n")
    assert line == f"{tmp_path / 'audit.yaml'}: unknown setting 'flows.min_byts'; did you mean 'min_bytes'?"


def test_unknown_key_without_a_near_miss_lists_the_known_keys(tmp_path: Path) -> None:
    line = _refusal(tmp_path, "tags:\n  expiry:\n    description: [x]\n")
    assert line == f"{tmp_path / 'audit.yaml'}: unknown setting 'tags.expiry.description' (known here: keys)"


@pytest.mark.parametrize(("text", "message"), [
    ("ports: [25, yes]\n", "ports entry 2: must be a whole number, not a boolean"),
    ("ports: [25.0]\n", "ports entry 1: must be a whole number, not a number"),
    ("ports: 25\n", "ports must be a list, not a number"),
    ("ports: []\n", "ports must not be empty"),
    ("ports: [65536]\n", "ports entry 1: must be from 0 to 65535"),
    ("tags:\n  owner: [a]\n", "tags.owner must be a mapping, not a list"),
    ("tags:\n  owner:\n    keys: [a, 7]\n", "tags.owner.keys entry 2 must be text, not a number"),
    ("tags:\n  owner:\n    keys: ['  ']\n", "tags.owner.keys entry 1 must be text, not the text '  '"),
    ("flows:\n  min_bytes: '1024'\n", "flows.min_bytes must be a whole number, not the text '1024'"),
    ("flows:\n  min_bytes: -1\n", "flows.min_bytes must be at least 0"),
    ("flows:\n  max_prefix: 7\n", "flows.max_prefix must be from 8 to 32"),
    ("flows:\n  mail_gateways: [10.0.0.0/33]\n", "flows.mail_gateways entry 1: '10.0.0.0/33' is not an address prefix"),
    ("flows:\n  mail_gateways: [25]\n", "flows.mail_gateways entry 1: must be a CIDR prefix written as text, "
                                         "not a number"),
])
def test_wrong_type_is_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    assert _refusal(tmp_path, text) == f"{tmp_path / 'audit.yaml'}: {message}"


def test_overrides_are_checked_as_built_in_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no audit folder: the shipped defaults and the overrides alone
    monkeypatch.delenv("AUDITKIT_PARAMETERS", raising=False)
    with pytest.raises(InputError) as info:
        load_settings(overrides={"flows": {"max_file_mb": True}})
    assert str(info.value) == "built-in defaults: flows.max_file_mb must be a whole number, not a boolean"


def test_a_key_missing_from_damaged_shipped_defaults_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import auditkit.settings as settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITKIT_PARAMETERS", raising=False)

    damaged = defaults()
    del damaged["flows"]["min_bytes"]
    monkeypatch.setattr(settings, "_shipped_defaults", lambda: damaged)
    with pytest.raises(InputError) as info:
        settings.load_settings(overrides={})
    assert str(info.value) == "built-in defaults: flows.min_bytes is missing"
