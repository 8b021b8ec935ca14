"""A small evaluator of the Azure Policy rule language, the subset the kit's guardrails use, so
that a generated policy's logic is checked against the engine's verdicts before anyone deploys it.

Supported: ``allOf``, ``anyOf``, ``not``; ``field`` and ``value`` conditions with ``equals``,
``notEquals``, ``in``, ``notIn``, ``contains``, ``like``, ``exists``, ``less``, ``lessOrEquals``,
``greater``, ``greaterOrEquals``; ``count`` over an array alias with ``where``; and template
expressions with ``parameters``, ``field``, ``current``, ``if`` (lazy, as Azure Policy evaluates
it), ``and``, ``or``, ``not``, ``contains``, ``empty``, ``first``, ``last``, ``split``, ``int``,
``string``, ``equals``, ``less(OrEquals)``, ``greater(OrEquals)``, ``true``, ``false``. Aliases
are those of NSGs and security rules (``Microsoft.Network/networkSecurityGroups/securityRules...``),
mapped onto the resource's ``properties``. String comparisons ignore case, as Azure Policy's do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditkit.evidence.records import properties

NSG = "microsoft.network/networksecuritygroups"
RULES = "microsoft.network/networksecuritygroups/securityrules"


class PolicyError(ValueError):
    """A construct outside the supported subset."""


def _alias(resource: Mapping, alias: str, scope: dict) -> Any:
    """The value of ``alias`` on ``resource`` (a list for ``[*]`` aliases); ``scope`` maps an array
    alias being counted to its current item."""
    a = alias.lower()
    if a == "type":
        return resource.get("type")
    if a == "name":
        return resource.get("name")
    for array, item in sorted(scope.items(), key=lambda kv: -len(kv[0])):
        if a == array:
            return item
        if a.startswith(array + "."):
            return _path(item, a[len(array) + 1:], scope, array)
    if a.startswith(RULES + "[*]"):
        rules = properties(resource).get("securityRules") or []
        rest = a[len(RULES + "[*]"):]
        if not rest:
            return list(rules)
        return [v for r in rules for v in _as_list(_path(r, rest.lstrip("."), scope, RULES + "[*]"))]
    if a.startswith(RULES + "/"):
        return _path(resource, a[len(RULES) + 1:], scope, RULES)
    raise PolicyError(f"alias {alias!r} is not supported")


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def _path(item: Any, rest: str, scope: dict, base: str) -> Any:
    """A property of a security rule (``access``, ``destinationPortRanges[*]``) as Azure exposes it."""
    props = {k.lower(): v for k, v in properties(item).items()}
    if rest.endswith("[*]"):
        value = props.get(rest[:-3])
        return list(value) if isinstance(value, list) else []
    return props.get(rest)


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


# --- template expressions -------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<p>[(),]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise PolicyError(f"cannot read expression at {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse(tokens: list, i: int = 0) -> tuple[Any, int]:
    kind, val = tokens[i]
    if kind == "str":
        return ("lit", val[1:-1].replace("''", "'")), i + 1
    if kind == "num":
        return ("lit", int(val)), i + 1
    if kind == "name":
        if i + 1 >= len(tokens) or tokens[i + 1] != ("p", "("):
            raise PolicyError(f"{val} must be called")
        args, j = [], i + 2
        if tokens[j] == ("p", ")"):
            return ("call", val, args), j + 1
        while True:
            arg, j = _parse(tokens, j)
            args.append(arg)
            if tokens[j] == ("p", ","):
                j += 1
                continue
            if tokens[j] == ("p", ")"):
                return ("call", val, args), j + 1
            raise PolicyError("expected , or )")
    raise PolicyError(f"unexpected {val!r}")


def _eq(a: Any, b: Any) -> bool:
    return _norm(a) == _norm(b)


def _call(node: Any, ctx: dict) -> Any:
    if node[0] == "lit":
        return node[1]
    _, name, args = node
    name = name.lower()
    if name == "if":  # lazy: only the branch taken is evaluated
        return _call(args[1], ctx) if _call(args[0], ctx) else _call(args[2], ctx)
    if name == "and":
        return all(_call(a, ctx) for a in args)
    if name == "or":
        return any(_call(a, ctx) for a in args)
    v = [_call(a, ctx) for a in args]
    if name == "parameters":
        return ctx["parameters"][v[0]]
    if name in ("field", "current"):
        return _alias(ctx["resource"], v[0], ctx["scope"])
    simple = {
        "not": lambda: not v[0], "true": lambda: True, "false": lambda: False,
        "empty": lambda: v[0] in (None, "", [], {}),
        "contains": lambda: (_norm(v[1]) in _norm(v[0])) if isinstance(v[0], str) else v[1] in (v[0] or []),
        "first": lambda: v[0][0] if v[0] else None, "last": lambda: v[0][-1] if v[0] else None,
        "split": lambda: str(v[0]).split(v[1]), "int": lambda: int(str(v[0]).strip()),
        "string": lambda: "" if v[0] is None else str(v[0]), "equals": lambda: _eq(v[0], v[1]),
        "less": lambda: v[0] < v[1], "lessorequals": lambda: v[0] <= v[1],
        "greater": lambda: v[0] > v[1], "greaterorequals": lambda: v[0] >= v[1],
    }
    if name not in simple:
        raise PolicyError(f"function {name}() is not supported")
    return simple[name]()


def _value(x: Any, ctx: dict) -> Any:
    """A literal, or the result of a ``[...]`` template expression."""
    if isinstance(x, str) and x.startswith("[") and x.endswith("]") and not x.startswith("[["):
        node, _ = _parse(_tokens(x[1:-1]))
        return _call(node, ctx)
    if isinstance(x, list):
        return [_value(i, ctx) for i in x]
    return x


# --- conditions ---------------------------------------------------------------------------------

def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "equals":
        return _eq(actual, expected)
    if op == "notequals":
        return not _eq(actual, expected)
    if op == "in":
        return any(_eq(actual, e) for e in expected)
    if op == "notin":
        return not any(_eq(actual, e) for e in expected)
    if op == "contains":
        return isinstance(actual, str) and _norm(expected) in _norm(actual)
    if op == "like":  # one wildcard, *, matching any run of characters; case-insensitive
        pattern = "^" + ".*".join(re.escape(p) for p in str(expected).lower().split("*")) + "$"
        return isinstance(actual, str) and re.match(pattern, actual.lower(), re.S) is not None
    if op == "exists":
        return (actual is not None) == bool(expected)
    if actual is None:
        return False
    return {"less": actual < expected, "lessorequals": actual <= expected, "greater": actual > expected,
            "greaterorequals": actual >= expected}[op]


_OPS = ("equals", "notequals", "in", "notin", "contains", "like", "exists", "less", "lessorequals", "greater",
        "greaterorequals")


def holds(cond: Mapping, resource: Mapping, parameters: Mapping, scope: dict | None = None) -> bool:
    """Whether ``cond`` holds for ``resource`` with the given parameter values."""
    scope = scope or {}
    ctx = {"resource": resource, "parameters": parameters, "scope": scope}
    keys = {k.lower(): k for k in cond}
    if "allof" in keys:
        return all(holds(c, resource, parameters, scope) for c in cond[keys["allof"]])
    if "anyof" in keys:
        return any(holds(c, resource, parameters, scope) for c in cond[keys["anyof"]])
    if "not" in keys:
        return not holds(cond[keys["not"]], resource, parameters, scope)
    op = next((keys[k] for k in keys if k in _OPS), None)
    if op is None:
        raise PolicyError(f"condition {dict(cond)!r} has no supported operator")
    expected = _value(cond[op], ctx)
    if "count" in keys:
        spec = cond[keys["count"]]
        alias = str(spec["field"]).lower()
        items = _alias(resource, alias, scope)
        items = items if isinstance(items, list) else []
        where = spec.get("where")
        n = sum(1 for item in items if where is None or holds(where, resource, parameters, {**scope, alias: item}))
        return _compare(n, op.lower(), expected)
    if "field" in keys:
        actual = _alias(resource, cond[keys["field"]], scope)
        if isinstance(actual, list) and str(cond[keys["field"]]).endswith("[*]"):
            # Outside a count, a [*] condition must hold for every member (Azure Policy's rule).
            return all(_compare(a, op.lower(), expected) for a in actual)
        return _compare(actual, op.lower(), expected)
    if "value" in keys:
        return _compare(_value(cond[keys["value"]], ctx), op.lower(), expected)
    raise PolicyError(f"condition {dict(cond)!r} has neither field, value nor count")


def flags(definition: Mapping, resource: Mapping, parameters: Mapping | None = None) -> bool:
    """Whether the policy's ``if`` holds for ``resource`` (non-compliant), with default parameters
    overridden by ``parameters``."""
    values = {k: v.get("defaultValue") for k, v in (definition.get("parameters") or {}).items()}
    values.update(parameters or {})
    return holds(definition["policyRule"]["if"], resource, values)
