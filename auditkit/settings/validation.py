"""The one way the settings files are checked: a pydantic model per file shape, and its errors
turned into one line that names the file, the entry and the key.

Every model is strict (nothing is coerced into validity: YAML's ``yes`` is not 1, ``'25'`` is not
25) and forbids unknown keys. Each file's module words its own lines from the error details
(``pydantic_core.ErrorDetails``) with the helpers here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from auditkit.errors import InputError

M = TypeVar("M", bound=BaseModel)
UNKNOWN = ("extra_forbidden", "invalid_key")  # a key the model does not name (invalid_key: not text)
TEXT = ("string_type", "string_pattern_mismatch", "string_too_short")  # not text, or blank text


class FileModel(BaseModel):
    """The base of every settings model: strict types, unknown keys refused, values frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def checked(model: type[M], data: Any, line: Callable[[list[ErrorDetails]], str]) -> M:
    """``data`` as ``model``; a refusal is one ``InputError`` worded by ``line`` from pydantic's errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(line(exc.errors(include_url=False))) from None


def problem(error_type: str, message: str, **values: Any) -> PydanticCustomError:
    """A custom error for a validator to raise; ``message`` may name ``values`` as ``{name}``."""
    return PydanticCustomError(error_type, message, values)


def unknown_first(errors: list[ErrorDetails]) -> ErrorDetails:
    """The error to report where unknown keys come before every other mistake: the unknown key
    that sorts first, else pydantic's first error (in the order the model lists its fields)."""
    unknown = [e for e in errors if e["type"] in UNKNOWN]
    return min(unknown, key=lambda e: str(e["loc"][-1])) if unknown else errors[0]


def near_miss(key: Any, known: Sequence[str]) -> str | None:
    """The known key that ``key`` is probably a typo of, if any."""
    near = difflib.get_close_matches(str(key), list(known), n=1)
    return near[0] if near else None


def kind(v: Any) -> str:
    """What a value is, in the words of an error line: ``a boolean``, ``the text 'x'``, ``empty``."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return "empty" if v is None else type(v).__name__
