"""Label and field selectors as the Kubernetes API server parses them (k8s.io/apimachinery).

Label selectors (``pkg/labels/selector.go``): comma-separated requirements, whitespace around tokens
ignored — ``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v`` (also true when the key is absent),
``key in (a,b)``, ``key notin (a,b)`` (also true when absent), ``key>N`` / ``key<N`` (integers). Keys
must be qualified names (optional DNS-subdomain prefix and ``/``), values valid label values (≤ 63
characters, alphanumeric at both ends, ``-_.`` inside, or empty); ``in``/``notin`` need a non-empty set.
Field selectors (``pkg/fields/selector.go``): ``f=v``, ``f==v``, ``f!=v``; each resource supports a fixed
list of fields and any other is refused with ``field label not supported: <f>`` (HTTP 400). A malformed
selector raises :class:`SelectorError`, answered as a 400 ``BadRequest`` Status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SPECIAL = " \t\n!=<>(),"
POD_FIELDS = frozenset({
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
    "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
    "status.nominatedNodeName",
})  # fmt: skip
NODE_FIELDS = frozenset({"metadata.name", "spec.unschedulable"})
GENERIC_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


class SelectorError(ValueError):
    """A selector the API server would refuse (400 BadRequest)."""


def valid_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(_DNS_SUBDOMAIN, prefix)):
        return False
    return 0 < len(name) <= 63 and re.fullmatch(_NAME, name) is not None


def valid_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and re.fullmatch(_NAME, value) is not None)


def _tokens(selector: str) -> list[str]:
    out, i = [], 0
    while i < len(selector):
        ch = selector[i]
        if ch.isspace():
            i += 1
        elif selector.startswith(("==", "!="), i):
            out.append(selector[i : i + 2])
            i += 2
        elif ch in "!=<>(),":
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(selector) and selector[j] not in _SPECIAL:
                j += 1
            out.append(selector[i:j])
            i = j
    return out


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has, val = self.key in labels, labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and val in self.values
        if self.op in ("!=", "notin"):
            return not has or val not in self.values
        try:
            num = int(val or "")
        except ValueError:
            return False
        return num > int(self.values[0]) if self.op == ">" else num < int(self.values[0])


def parse_label_selector(selector: str | None) -> list[Requirement]:
    """apimachinery's ``labels.Parse``; raises SelectorError on what it refuses."""
    toks, reqs, i = _tokens(selector or ""), [], 0

    def take() -> str:
        nonlocal i
        tok = toks[i] if i < len(toks) else ""
        i += 1
        return tok

    def key_of(tok: str) -> str:
        if tok in _SPECIAL.strip() or tok in ("==", "!=", "") or not valid_key(tok):
            raise SelectorError(f"unable to parse requirement: invalid label key {tok!r}")
        return tok

    def value_of(tok: str) -> str:
        if not valid_value(tok):
            raise SelectorError(f"unable to parse requirement: invalid label value: {tok!r}")
        return tok

    while i < len(toks):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(key_of(take()), "!"))
        else:
            key = key_of(tok)
            op = toks[i] if i < len(toks) else ","
            if op == ",":
                reqs.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                i += 1
                nxt = toks[i] if i < len(toks) else ","
                val = "" if nxt == "," else value_of(take())
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (val,)))
            elif op in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise SelectorError(f"unable to parse requirement: found {toks[i - 1]!r}, expected: '('")
                vals: list[str] = []
                while True:
                    tok = take()
                    if tok == ")":
                        break
                    if tok == ",":
                        continue
                    if tok == "" or tok in "(!=<>":
                        raise SelectorError("unable to parse requirement: found end of selector, expected: ')'")
                    vals.append(value_of(tok))
                if not vals:
                    raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
                reqs.append(Requirement(key, op, tuple(vals)))
            elif op in (">", "<"):
                i += 1
                val = take()
                if not re.fullmatch(r"-?[0-9]+", val):
                    raise SelectorError(f"for 'Gt', 'Lt' operators, the value must be an integer: {val!r}")
                reqs.append(Requirement(key, op, (val,)))
            else:
                raise SelectorError(f"unable to parse requirement: found {op!r}, expected: ',', '=', 'in', ...")
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError(f"found {toks[i]!r}, expected: ','")
            i += 1
            if i == len(toks):
                raise SelectorError("found '', expected: identifier after ','")
    return reqs


def matches_selector(labels: Mapping[str, str], selector: str | None) -> bool:
    """Kubernetes label-selector semantics. Raises SelectorError on a malformed selector."""
    return all(r.matches(labels) for r in parse_label_selector(selector))


def parse_field_selector(selector: str | None, supported: frozenset[str]) -> list[tuple[str, str, str]]:
    """``fields.ParseSelector`` + the resource's field list: [(field, op, value)] with op ``=`` or ``!=``."""
    out = []
    for part in re.split(r"(?<!\\),", selector or ""):
        if not part.strip():
            continue
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not m:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        field, op, value = m.groups()
        if field not in supported:
            raise SelectorError(f"field label not supported: {field}")
        out.append((field, "!=" if op == "!=" else "=", value.replace("\\,", ",").replace("\\=", "=")))
    return out


def fields_match(fields: Mapping[str, str], selector: list[tuple[str, str, str]]) -> bool:
    return all((fields.get(f, "") == v) == (op == "=") for f, op, v in selector)
