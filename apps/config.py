"""Turn raw configuration (parsed YAML/JSON) into the frozen settings dataclasses, or fail naming the key.

One converter serves every section: a dataclass field ``update_strategy`` is the key ``updateStrategy``;
a field whose metadata says ``flatten`` contributes its own fields at the same level (the app sections
list the StatefulSet settings next to the app's own). Keys that are not fields are rejected, values are
type-checked, and the dataclasses' own ``__post_init__`` checks are re-raised with the full key.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

import pulumi

from infra.errors import InvalidFieldError

T = TypeVar("T")

FLATTEN = "flatten"


class ConfigError(pulumi.RunError):
    """Bad stack configuration; raised before any resource exists, with the key and what is allowed."""


def camel(name: str) -> str:
    """``update_strategy`` -> ``updateStrategy``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_path(path: str) -> str:
    """Convert each segment of a dotted field path; list indexes (``[0]``) and map keys stay as they are."""
    return ".".join(
        camel(segment) if re.fullmatch(r"[a-z0-9_]+(\[\d+\])?", segment) else segment for segment in path.split(".")
    )


def _describe(value: object) -> str:
    return repr(value) if not isinstance(value, dict) else "an object"


def _keys(cls: type) -> dict[str, tuple[str, str | None]]:
    """Map every accepted key to (field name, flattened parent field or None)."""
    accepted: dict[str, tuple[str, str | None]] = {}
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        if item.metadata.get(FLATTEN):
            nested_type = typing.get_type_hints(cls)[item.name]
            for nested in dataclasses.fields(nested_type):
                accepted[camel(nested.name)] = (nested.name, item.name)
        else:
            accepted[camel(item.name)] = (item.name, None)
    return accepted


def _flattened(cls: Any) -> list[str]:
    return [item.name for item in dataclasses.fields(cls) if item.metadata.get(FLATTEN)]


def build(cls: type[T], raw: object, key: str, default: T | None = None) -> T:
    """Build ``cls`` from ``raw`` (a mapping of camelCase keys), starting from ``default`` when given."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be an object, got {_describe(raw)}")
    accepted = _keys(cls)
    unknown = sorted(set(raw) - set(accepted))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a known setting; known settings: {', '.join(sorted(accepted))}")
    hints = typing.get_type_hints(cls)
    merge = default is not None and getattr(cls, "MERGE_DEFAULTS", True)
    direct: dict[str, Any] = {}
    flattened: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        field_name, parent = accepted[name]
        if parent is None:
            current = getattr(default, field_name) if merge else None
            direct[field_name] = convert(hints[field_name], value, f"{key}.{name}", current)
        else:
            flattened.setdefault(parent, {})[name] = value
    for parent_field in _flattened(cls):
        current = getattr(default, parent_field) if default is not None else None
        section = flattened.get(parent_field, {})
        if section or current is None:
            direct[parent_field] = build(hints[parent_field], section, key, current)
    try:
        if merge and default is not None:
            return dataclasses.replace(default, **direct)  # type: ignore[type-var]
        return cls(**direct)
    except InvalidFieldError as error:
        raise ConfigError(f"{key}.{camel_path(error.field)} {error.problem}") from None
    except TypeError as error:
        missing = re.findall(r"'(\w+)'", str(error))
        names = ", ".join(f"{key}.{camel(name)}" for name in missing) or key
        raise ConfigError(f"{names} must be set") from None


def convert(annotation: Any, value: object, key: str, current: object = None) -> Any:
    """Check ``value`` against the field ``annotation`` and return it in the field's type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(typing.get_args(annotation), value, key, current)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {_describe(value)}")
        item_type = typing.get_args(annotation)[0]
        return tuple(convert(item_type, item, f"{key}[{index}]") for index, item in enumerate(value))
    if origin is Mapping:
        return _convert_string_map(value, key)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return build(annotation, value, key, current)
    if not _matches(annotation, value):
        raise ConfigError(f"{key} must be {_type_name(annotation)}, got {_describe(value)}")
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return annotation(str(value))
    return value


def _convert_union(members: tuple[Any, ...], value: object, key: str, current: object) -> Any:
    if value is None and type(None) in members:
        return None
    candidates = [member for member in members if member is not type(None)]
    for member in candidates:
        if _matches(member, value):
            return convert(member, value, key, current)
    allowed = " or ".join(_type_name(member) for member in candidates)
    raise ConfigError(f"{key} must be {allowed}, got {_describe(value)}")


def _convert_string_map(value: object, key: str) -> dict[str, str]:
    """Labels and quantities: string values, numbers accepted as written (``cpu: 1``)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be an object of strings, got {_describe(value)}")
    result: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ConfigError(f"{key}.{name} must be a string, got {_describe(item)}")
        result[str(name)] = str(item)
    return result


def _matches(annotation: Any, value: object) -> bool:
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return value in {member.value for member in annotation}
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, Mapping)
    return False


def _type_name(annotation: Any) -> str:
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is str:
        return "a string"
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "one of " + ", ".join(member.value for member in annotation)
    if dataclasses.is_dataclass(annotation):
        return "an object"
    return str(annotation)
