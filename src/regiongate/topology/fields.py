"""Typed reading of parsed YAML values, with precise errors.

Each reader takes a raw value and its dotted field path and returns a checked Python value or raises
:class:`ConfigError` naming the file, the path, the line and what was expected. :class:`Fields` wraps a mapping
whose keys were checked against the allowed ones, so no key is ever silently ignored.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

from regiongate.errors import ConfigError
from regiongate.topology import jurisdictions
from regiongate.topology.records import Countries
from regiongate.topology.yamlsafe import Document, item, join

T = TypeVar("T")
Read = Callable[[object, str], T]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # ids end up in paths, headers and ledger records
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def describe(value: object) -> str:
    """A short human description of a YAML value, for "expected X, got Y" messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def suggest(word: str, options: Collection[str]) -> str:
    hint = difflib.get_close_matches(word, sorted(options), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


@dataclass(frozen=True, slots=True)
class Reader:
    """The context of reading one topology file: where errors point, and the jurisdiction sets known so far."""

    source: str
    doc: Document
    sets: Mapping[str, Countries] = field(default_factory=lambda: jurisdictions.BUILTIN_SETS)
    # What policies may name, to catch typos: public model names served and certification schemes known (None: the
    # section had broken entries, so skip the check rather than add misleading errors).
    models: frozenset[str] | None = None
    schemes: frozenset[str] | None = None

    def error(self, path: str, problem: str) -> ConfigError:
        line = self.doc.line_of(path)
        return ConfigError(self.source, path, f"{problem} (line {line})" if line is not None else problem)

    def expected(self, path: str, what: str, value: object) -> ConfigError:
        return self.error(path, f"expected {what}, got {describe(value)}")

    def fields(self, value: object, path: str, required: Collection[str], optional: Collection[str] = ()) -> Fields:
        """Check ``value`` is a mapping with all of ``required`` and nothing outside ``required``+``optional``."""
        if not isinstance(value, dict):
            raise self.expected(path, "a mapping", value)
        allowed = {*required, *optional}
        for key in value:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.error(join(path, key), f"unknown key{suggest(str(key), allowed)} (allowed here: {known})")
        for key in required:
            if key not in value:
                raise self.error(join(path, key), "missing required key")
        return Fields(self, path, MappingProxyType(value))

    def entries(self, value: object, path: str) -> list[tuple[str, object]]:
        """The ``id: body`` entries of a section, ids checked."""
        if not isinstance(value, dict):
            raise self.expected(path, "a mapping of id to entry", value)
        return [(self.ident(key, join(path, key)), body) for key, body in value.items()]

    def mapping(self, value: object, path: str, what: str) -> dict[str, object]:
        """A non-empty mapping with string keys (``what`` names one entry, for messages)."""
        if not isinstance(value, dict):
            raise self.expected(path, f"a mapping of {what} to entry", value)
        if not value:
            raise self.error(path, f"expected at least one {what}, got an empty mapping")
        for key in value:
            if not isinstance(key, str):
                raise self.expected(join(path, key), f"a {what} name", key)
        return value

    def ident(self, value: object, path: str) -> str:
        if not isinstance(value, str) or _ID.match(value) is None:
            raise self.error(path, f"bad id {value!r}: use letters, digits, '.', '_' or '-' (at most 128)")
        return value

    def reference(self, value: object, path: str, declared: Collection[str], what: str) -> str:
        """The id of an entry of another section; ``declared`` holds that section's ids (even broken entries')."""
        ref = self.string(value, path)
        if ref not in declared:
            raise self.error(path, f"unknown {what} {ref!r}{suggest(ref, declared)}")
        return ref

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.expected(path, "a non-empty string", value)
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.expected(path, "true or false", value)
        return value

    def integer(self, value: object, path: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(path, "an integer", value)
        if minimum is not None and value < minimum:
            raise self.error(path, f"must be at least {minimum}, got {value}")
        return value

    def number(self, value: object, path: str, low: float, high: float = math.inf, *, above: bool = False) -> float:
        """A finite number in [low, high] (or (low, high] with ``above``)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.expected(path, "a number", value)
        if value < low or (above and value == low) or value > high:
            low_text = f"greater than {low:g}" if above else f"at least {low:g}"
            bound = low_text if high == math.inf else f"{low_text} and at most {high:g}"
            raise self.error(path, f"must be {bound}, got {value:g}")
        return float(value)

    def percent(self, value: object, path: str) -> float:
        return self.number(value, path, 0, 100)

    def sequence(self, value: object, path: str) -> list[object]:
        """A non-empty list."""
        if not isinstance(value, list):
            raise self.expected(path, "a list", value)
        if not value:
            raise self.error(path, "expected at least one entry, got an empty list")
        return value

    def items(self, value: object, path: str, read: Read[T]) -> list[T]:
        """A non-empty list, each entry read with ``read`` at its own path."""
        return [read(entry, item(path, index)) for index, entry in enumerate(self.sequence(value, path))]

    def choice(self, value: object, path: str, options: Mapping[str, T]) -> T:
        if isinstance(value, str) and value in options:
            return options[value]
        hint = suggest(value, options) if isinstance(value, str) else ""
        raise self.error(path, f"expected one of {', '.join(options)}, got {describe(value)}{hint}")

    def date(self, value: object, path: str) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value  # only reachable through an explicit !!timestamp tag
        if isinstance(value, str) and _DATE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError as exc:
                raise self.error(path, f"bad date {value!r}: {exc}") from None
        raise self.expected(path, "a date YYYY-MM-DD", value)

    def url(self, value: object, path: str) -> str:
        text = self.string(value, path)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise self.error(path, f"bad URL {text!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(path, f"expected an http:// or https:// URL with a host, got {text!r}")
        return text

    def level(self, value: object, path: str) -> str:
        """A certification level as text. A YAML number keeps its source spelling (``3.20`` stays "3.20")."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self.doc.raw_numbers.get(path, str(value))
        return self.string(value, path)

    def country(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.expected(path, "a country code", value)
        try:
            return jurisdictions.check_country(value)
        except jurisdictions.JurisdictionError as exc:
            raise self.error(path, exc.problem) from None

    def countries(self, value: object, path: str) -> Countries:
        """A SET: one code or set name, or a non-empty list mixing them, expanded to country codes."""
        tokens = [value] if isinstance(value, str) else self.sequence(value, path)
        for index, token in enumerate(tokens):
            if not isinstance(token, str):
                raise self.expected(path if isinstance(value, str) else item(path, index), "a country or set", token)
        try:
            return jurisdictions.expand([str(token) for token in tokens], self.sets)
        except jurisdictions.JurisdictionError as exc:
            where = path if isinstance(value, str) or exc.index is None else item(path, exc.index)
            raise self.error(where, exc.problem) from None


@dataclass(frozen=True, slots=True)
class Fields:
    """A checked mapping: read each field at its own path."""

    reader: Reader
    path: str
    values: Mapping[object, object]

    def at(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, read: Read[T]) -> T:
        return read(self.values[key], self.at(key))

    def opt(self, key: str, read: Read[T]) -> T | None:
        return read(self.values[key], self.at(key)) if key in self.values else None


class Issues:
    """Collects errors entity by entity, so one run reports every broken entry instead of only the first."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    @contextmanager
    def entry(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.errors.append(exc)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors)


class ConfigErrors(ConfigError):
    """Several configuration errors at once; ``source``/``path``/``problem`` are those of the first."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.source, first.path, first.problem)
        self.errors = tuple(errors)

    def __str__(self) -> str:
        lines = [ConfigError.__str__(self)]
        if len(self.errors) > 1:
            lines.append(f"... and {len(self.errors) - 1} more:")
            lines.extend(f"  {error}" for error in self.errors[1:])
        return "\n".join(lines)
