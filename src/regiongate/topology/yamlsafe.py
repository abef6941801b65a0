"""Strict YAML reading for configuration files.

PyYAML's ``SafeLoader`` follows YAML 1.1, whose implicit types are traps in a sovereignty file: ``country: NO``
(Norway) becomes ``False``, ``010`` becomes 8, ``1:30`` becomes 90, and a repeated key silently replaces the first.
:class:`StrictLoader` resolves plain scalars like YAML 1.2's core schema instead (only ``true``/``false`` are
booleans, integers are decimal, dates stay strings for the loader to check), and :func:`load` refuses duplicate
keys while indexing every field path to its line so later errors can say where they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from regiongate.errors import ConfigError

BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"
# Implicit resolvers of YAML 1.1 that we replace (bool, int, float) or drop (timestamp: the loader parses dates
# itself so a bad date is reported with its field path; value: ``=`` has no safe constructor).
_DROPPED = frozenset({BOOL_TAG, INT_TAG, FLOAT_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"})

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9]+[eE][-+]?[0-9]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
# A cap on nodes visited while indexing: aliases let a tiny file expand exponentially ("billion laughs").
MAX_NODES = 1_000_000


class StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 core-schema scalars; see the module docstring for why."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {  # type: ignore[misc]
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_decimal_int(self, node: Node) -> int:
        # YAML 1.1 reads a leading 0 as octal (and fails on 09); a config file means decimal.
        return int(str(node.value), 10)


StrictLoader.add_implicit_resolver(BOOL_TAG, _BOOL, list("tTfF"))
StrictLoader.add_implicit_resolver(INT_TAG, _INT, list("-+0123456789"))
StrictLoader.add_implicit_resolver(FLOAT_TAG, _FLOAT, list("-+0123456789."))
StrictLoader.add_constructor(INT_TAG, StrictLoader.construct_decimal_int)


def join(path: str, key: object) -> str:
    """The dotted path of ``key`` inside ``path`` (``datacenters`` + ``fra-1`` → ``datacenters.fra-1``)."""
    return f"{path}.{key}" if path else str(key)


def item(path: str, index: int) -> str:
    """The path of a list item (``parents`` + 1 → ``parents[1]``)."""
    return f"{path}[{index}]"


@dataclass(frozen=True, slots=True)
class Document:
    """Parsed YAML plus, per field path, its line and (for numbers) its source text."""

    data: object
    lines: Mapping[str, int]
    raw_numbers: Mapping[str, str]  # e.g. a level written 3.20 keeps its "3.20"

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or of its nearest indexed ancestor (a missing key points at its parent)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut < 0:
                return self.lines.get("")
            path = path[:cut]


class _Indexer:
    """Walks the composed node graph before construction: duplicate keys, recursion, size, lines."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[str, int] = {"": 1}
        self.raw: dict[str, str] = {}
        self.active: set[int] = set()
        self.visited = 0

    def walk(self, node: Node, path: str) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self._error(path, node, f"document too large (more than {MAX_NODES} nodes after aliases)")
        if id(node) in self.active:
            raise self._error(path, node, "recursive alias: a node contains itself")
        if isinstance(node, ScalarNode):
            if node.tag in (INT_TAG, FLOAT_TAG):
                self.raw[path] = str(node.value)
            return
        self.active.add(id(node))
        if isinstance(node, MappingNode):
            self._walk_mapping(node, path)
        elif isinstance(node, SequenceNode):
            for index, child in enumerate(node.value):
                self.lines[item(path, index)] = child.start_mark.line + 1
                self.walk(child, item(path, index))
        self.active.discard(id(node))

    def _walk_mapping(self, node: MappingNode, path: str) -> None:
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # merged entries were indexed where their anchor was defined
            if not isinstance(key_node, ScalarNode):
                raise self._error(path, key_node, "mapping keys must be plain values, not lists or mappings")
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first_line:
                where = f"duplicate key (line {line}; first defined at line {first_line[key]})"
                raise ConfigError(self.source, join(path, key), where)
            first_line[key] = line
            self.lines[join(path, key)] = line
            self.walk(value_node, join(path, key))

    def _error(self, path: str, node: Node, problem: str) -> ConfigError:
        return ConfigError(self.source, path, f"{problem} (line {node.start_mark.line + 1})")


def load(text: str, source: str) -> Document:
    """Parse one YAML document strictly. Every failure is a :class:`ConfigError` naming ``source`` and a line."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, MappingProxyType({}), MappingProxyType({}))
        indexer = _Indexer(source)
        indexer.walk(node, "")
        data = loader.construct_document(node)
        return Document(data, MappingProxyType(indexer.lines), MappingProxyType(indexer.raw))
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(source, "", _describe_marked(exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(source, "", "not valid YAML: nested too deeply") from exc
    finally:
        loader.dispose()


def _describe_marked(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
    if mark is None:
        return f"not valid YAML: {what}"
    return f"not valid YAML: {what} (line {mark.line + 1}, column {mark.column + 1})"
