"""Parsing content text (YAML/JSON) within fixed bounds, before any of it is trusted.

A content file is small and flat: the largest shipped experiment is 4 KB, nested 9 levels, with no
YAML aliases. Hostile text is not: a 595-byte alias bomb expands to 43 million strings, 8 MiB of dense
YAML costs minutes and gigabytes to parse, and a document nested 500 levels deep parses fine but
overflows the stack of whatever walks it later (chaoslib's substitution, the journal writer). So every
document is held to :class:`Limits` *while* it is parsed:

* ``max_bytes`` — checked on the text, before the parser sees it;
* ``max_depth`` — YAML: checked as each node is composed; JSON: checked by a flat scan of the brackets
  before ``json.loads`` (which is recursive) runs, so depth never costs stack;
* ``max_aliases`` and ``max_nodes`` — YAML aliases are counted as they are composed, and every node
  counts with its *expanded* size (an alias of a 1,000-node list counts 1,000), so an alias bomb is
  refused a few lines in, never expanded. An alias to its own ancestor (a
  recursive document) is refused: nothing downstream can walk it;
* non-finite numbers (``.nan``, ``.inf``, ``NaN``, ``Infinity``, ``1e999``) are refused: no pause,
  timeout or ratio can be NaN, and journals and the fault ledger are strict JSON, which has none.

Problems are raised as :class:`DocumentRefused` ``(key path, message)``;
:func:`chaosrunner.core.validation.load_document` adds the file name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner


class _PureEvents(Reader, Scanner, Parser):
    """PyYAML's pure-Python scanner and parser, for a PyYAML built without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


try:  # libyaml scans and parses in C (3x faster); composing, where the limits live, stays in Python
    from yaml.cyaml import CParser as _Events
except ImportError:  # pragma: no cover
    _Events = _PureEvents  # type: ignore[assignment,misc]


@dataclass(frozen=True)
class Limits:
    """Bounds on one document. ``max_nodes`` counts scalars, lists and mappings after alias expansion;
    ``typical`` says, in a refusal, what a document of this kind normally looks like."""

    max_bytes: int
    max_depth: int
    max_aliases: int
    max_nodes: int
    typical: str


# An experiment, catalog, calendar, game-day plan or var file is written by hand: a few KB (the largest
# shipped file is 4 KB, ~300 values, 9 levels deep, no aliases). 1 MiB is 250 times that. Composing
# YAML costs ~12 µs of CPU per value, so 20,000 values (65 times the largest shipped file; a calendar of
# 1,000 entries or a catalog of 1,000 SLOs) is refused or accepted in ~0.25 s of CPU and a few tens of
# MB, and everything downstream (substitution, plan, the journal, which embeds the experiment) stays
# that small. 64 levels is 7 times the deepest shipped file and far from any recursion limit. Before
# these limits, 8 MiB of YAML took 83 s and 2.7 GB to validate.
CONTENT_LIMITS = Limits(
    max_bytes=1024 * 1024,
    max_depth=64,
    max_aliases=100,
    max_nodes=20_000,
    typical="an experiment, catalog, calendar or var file is a few KB",
)

# A journal is written by chaosrunner, not by hand: an hour of guard samples is several MB, and it
# embeds the experiment (one level) under the run record (a few more) — see journal/store.py.
JOURNAL_LIMITS = Limits(
    max_bytes=64 * 1024 * 1024,
    max_depth=80,
    max_aliases=0,
    max_nodes=10_000_000,
    typical="a journal of an hour's run with 1 s guard samples is a few MB",
)


class DocumentRefused(ValueError):
    """The text breaks a bound or is not a document; ``key`` locates it (``""`` for the whole file)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def key_path(loc: Iterable[str | int]) -> str:
    """``("extensions", 0, "blast_radius")`` → ``extensions[0].blast_radius``; ``""`` parts are skipped."""
    out = ""
    for part in loc:
        if part == "":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def join_path(*parts: str) -> str:
    """Join rendered key paths: ``join_path("configuration", "p[0]")`` → ``configuration.p[0]``,
    ``join_path("p", "[0].x")`` → ``p[0].x``; empty parts are skipped."""
    out = ""
    for part in parts:
        if part:
            out += part if not out or part.startswith("[") else f".{part}"
    return out


def _short_path(loc: list[str | int], keep: int = 6) -> str:
    """A key path for a message about depth: the first ``keep`` steps, then an ellipsis."""
    return key_path(loc) if len(loc) <= keep else key_path(loc[:keep]) + "…"


def check_size(size: int, limits: Limits) -> None:
    """Refuse a document of ``size`` bytes (or characters) over ``limits.max_bytes``."""
    if size > limits.max_bytes:
        raise DocumentRefused(
            "",
            f"is {size:,} bytes, over the {_size(limits.max_bytes)} limit ({limits.typical}: "
            "anything this large is a mistake or an attack, and parsing it would cost minutes and gigabytes)",
        )


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


# --- YAML -------------------------------------------------------------------------------------------


class _BoundedComposer(Composer):
    """PyYAML's composer with a budget: depth, alias references and expanded node count are checked
    as each node is composed, and aliases are never expanded (PyYAML shares the anchored node)."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits
        self._path: list[str | int] = []
        self._expanded: dict[int, int] = {}  # id(node) -> nodes it stands for once aliases are expanded
        self._aliases = 0
        self._total = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._path.append(self._step(parent, index))
        try:
            if self.check_event(AliasEvent):
                return self._alias(parent, index)
            if len(self._path) > self.limits.max_depth and self.check_event(SequenceStartEvent, MappingStartEvent):
                raise DocumentRefused(
                    _short_path(self._path[1:]),
                    f"nested deeper than {self.limits.max_depth} levels; content this deep is refused "
                    "because every tool that walks it (substitution, journals) would overflow",
                )
            node = super().compose_node(parent, index)
            self._count(node, self._own_size(node))
            return node
        finally:
            self._path.pop()

    def _alias(self, parent: Node | None, index: Any) -> Node:
        node = super().compose_node(parent, index)  # the anchored node itself, shared, not copied
        self._aliases += 1
        if self._aliases > self.limits.max_aliases:
            raise DocumentRefused(
                key_path(self._path),
                f"more than {self.limits.max_aliases} YAML alias references (*name); "
                "aliases that repeat each other multiply a small file into gigabytes",
            )
        size = self._expanded.get(id(node))
        if size is None:
            raise DocumentRefused(
                key_path(self._path), "a YAML alias refers to a node that contains it (a recursive document)"
            )
        self._total += size
        self._check_total()
        return node

    def _own_size(self, node: Node) -> int:
        if isinstance(node, SequenceNode):
            return 1 + sum(self._expanded[id(child)] for child in node.value)
        if isinstance(node, MappingNode):
            return 1 + sum(self._expanded[id(k)] + self._expanded[id(v)] for k, v in node.value)
        return 1

    def _count(self, node: Node, size: int) -> None:
        """Record a composed node; the running total is the document's size with aliases expanded."""
        self._expanded[id(node)] = size
        self._total += 1
        self._check_total()

    def _check_total(self) -> None:
        if self._total <= self.limits.max_nodes:
            return
        raise DocumentRefused(
            key_path(self._path),
            f"expands to more than {self.limits.max_nodes:,} values once YAML aliases are expanded "
            f"({self.limits.typical}); a document this big would cost gigabytes to run and journal",
        )

    @staticmethod
    def _step(parent: Node | None, index: Any) -> str | int:
        if isinstance(parent, SequenceNode):
            return int(index)
        if isinstance(parent, MappingNode):
            return str(index.value) if isinstance(index, ScalarNode) else ""  # "": composing a key
        return ""


class _BoundedSafeLoader(_BoundedComposer, _Events, SafeConstructor, Resolver):  # type: ignore[misc]
    """``yaml.SafeLoader`` (same tags, same resolver) with :class:`_BoundedComposer` composing."""

    def __init__(self, stream: str, limits: Limits) -> None:
        _Events.__init__(self, stream)
        _BoundedComposer.__init__(self, limits)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def parse_yaml(text: str, limits: Limits = CONTENT_LIMITS) -> Any:
    """``yaml.safe_load`` within ``limits``; raises DocumentRefused or ``yaml.YAMLError``."""
    check_size(len(text), limits)
    loader = _BoundedSafeLoader(text, limits)
    try:
        doc = loader.get_single_data()
    finally:
        loader.dispose()
    check_numbers(doc)
    return doc


# --- JSON -------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_JSON_STEPS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"\s*:?|[\[\]{},]')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_MAY_OVERFLOW = re.compile(r"[eE]\+?\d{3}|\d{300}")  # 1e308 is finite, 1e309 is not: look closer


def parse_json(text: str | bytes, limits: Limits = CONTENT_LIMITS) -> Any:
    """``json.loads`` within ``limits``; raises DocumentRefused or ``json.JSONDecodeError``.

    The depth is measured by a flat scan of the text first: ``json.loads`` recurses once per level
    and whatever walks the result later recurses again. Non-finite numbers are looked for (with
    their key path) only when the text has a ``NaN``/``Infinity`` or a literal that may overflow,
    so a large journal is not walked value by value."""
    check_size(len(text), limits)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    outside_strings = _JSON_STRING.sub('""', text)
    if _json_depth(outside_strings) > limits.max_depth:
        offset = _json_too_deep_at(text, limits.max_depth)
        raise DocumentRefused(
            _short_path(_json_path_at(text, offset)),
            f"nested deeper than {limits.max_depth} levels; content this deep is refused "
            "because every tool that walks it (substitution, journals) would overflow",
        )
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    try:
        doc = json.loads(text, parse_constant=constant)
    except RecursionError:  # cannot happen below max_depth; kept so a bad limit fails closed
        raise DocumentRefused("", "nested too deeply") from None
    if constants or _MAY_OVERFLOW.search(outside_strings):
        check_numbers(doc)
    return doc


def _json_depth(outside_strings: str) -> int:
    """The deepest bracket nesting of JSON text whose strings are blanked, without a Python-level
    loop per bracket (journals are MBs)."""
    brackets = _NOT_A_BRACKET.sub("", outside_strings)
    if not brackets:
        return 0
    return max(accumulate(memoryview(brackets.encode("ascii").translate(_BRACKET_STEP)).cast("b")))


def _json_too_deep_at(text: str, max_depth: int) -> int:
    """The offset of the first bracket that opens level ``max_depth + 1`` (only to report a refusal)."""
    depth = 0
    for m in _JSON_NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > max_depth:
                return m.start()
        elif c in "]}":
            depth -= 1
    return len(text)


def _json_path_at(text: str, offset: int) -> list[str | int]:
    """The key path of the container opened at ``offset`` (only computed to report a refusal)."""
    stack: list[str | int] = []
    pending: str | int = ""
    for m in _JSON_STEPS.finditer(text, 0, offset):
        c = m.group()
        if c in "[{":
            stack.append(pending)
            pending = 0 if c == "[" else ""
        elif c in "]}":
            pending = stack.pop() if stack else ""
        elif c == ",":
            pending = pending + 1 if isinstance(pending, int) else ""
        elif c.endswith(":"):
            try:
                pending = str(json.loads(c[:-1].rstrip()))
            except ValueError:
                pending = "?"
    return [*stack[1:], pending]


# --- both -------------------------------------------------------------------------------------------


def check_numbers(doc: Any) -> None:
    """Refuse NaN and ±infinity anywhere in ``doc`` (iterative; the doc is already depth-bounded)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    seen: set[int] = set()
    while stack:
        value, loc = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise DocumentRefused(
                key_path(loc),
                f"{value} is not a number chaosrunner can act on (a pause, timeout or ratio of {value} "
                "has no meaning, and journals are strict JSON, which has no NaN or Infinity)",
            )
        if isinstance(value, dict | list):
            if id(value) in seen:  # a YAML alias: its content was checked where it was anchored
                continue
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, (*loc, k if isinstance(k, int | str) else str(k))) for k, v in items)
