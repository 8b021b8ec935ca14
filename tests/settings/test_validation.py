"""One mechanism for the three settings files: strict pydantic models that refuse unknown keys."""

from __future__ import annotations

import pytest

import auditkit.settings.accepted_risks
import auditkit.settings.controls
import auditkit.settings.schema
from auditkit.errors import InputError
from auditkit.settings.schema import AuditSettings
from auditkit.settings.validation import FileModel, checked, kind, near_miss


def _all_models() -> list[type[FileModel]]:
    found, todo = [], [FileModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_every_settings_model_is_strict_and_refuses_unknown_keys() -> None:
    models = {m.__module__ for m in _all_models()}
    assert {auditkit.settings.schema.__name__, auditkit.settings.controls.__name__,
            auditkit.settings.accepted_risks.__name__} <= models
    for model in _all_models():
        assert model.model_config.get("extra") == "forbid", model
        assert model.model_config.get("strict") is True, model


def test_a_refusal_is_one_input_error_worded_by_the_file() -> None:
    with pytest.raises(InputError) as info:
        checked(AuditSettings, {"ports": "25"}, lambda errors: f"f.yaml: {len(errors)} problems, first {errors[0]['loc']}")
    assert str(info.value) == "f.yaml: 3 problems, first ('ports',)"  # ports, and tags and flows missing


@pytest.mark.parametrize(("value", "words"), [
    (True, "a boolean"), (3, "a number"), (1.5, "a number"), ("x" * 50, f"the text {'x' * 40!r}"), ([], "a list"),
    ({}, "a mapping"), (None, "empty"), ({1}, "set"),
])
def test_kind_names_what_a_value_is(value, words: str) -> None:
    assert kind(value) == words


def test_near_miss() -> None:
    assert near_miss("flow", ["ports", "tags", "flows"]) == "flows"
    assert near_miss(5, ["ports", "tags", "flows"]) is None
