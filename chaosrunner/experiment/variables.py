"""Configuration and secret values given at run time (``--var``, ``--var-file``), read the way
``chaos run`` reads them (chaoslib's ``convert_vars`` / ``merge_vars``), with bad input refused
instead of logged and skipped.

* ``--var key=value``: a string, as in Chaos Toolkit — except that a value which is JSON *and reads back
  exactly as written* becomes that JSON value (``n=3`` → 3, ``on=true`` → true, ``x=1.10`` stays
  ``"1.10"``: a conversion that would change what the user typed is never made).
* ``--var key:type=value`` with ``type`` one of chaoslib's ``str``/``string``, ``int``/``integer``,
  ``float``/``number``, ``bytes``, ``bool``, ``json``.
* ``--var-file F``: YAML/JSON with ``configuration`` and/or ``secrets`` mappings (Chaos Toolkit), or a
  flat mapping of configuration keys (chaosrunner); a ``.env`` file (``KEY=value`` lines, ``#``
  comments) sets environment variables for the run, as ``chaos run`` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.core.documents import CONTENT_LIMITS, DocumentRefused, join_path, parse_json
from chaosrunner.core.validation import InvalidInput, load_document

VAR_TYPES = ("str", "string", "int", "integer", "float", "number", "bytes", "bool", "json")


@dataclass
class Variables:
    configuration: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)  # {scope: {key: value}}, as experiments declare them
    environment: dict[str, str] = field(default_factory=dict)  # from .env files, already exported


def parse_var(pair: str) -> tuple[str, Any]:
    """One ``--var``: ``key=value`` or ``key:type=value``. Raises InvalidInput naming the pair."""
    key, sep, raw = pair.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidInput("--var", [(pair, "expected key=value or key:type=value")])
    if ":" in key:
        name, _, typ = key.rpartition(":")
        if typ in VAR_TYPES and name.strip():
            return name.strip(), _convert(pair, typ, raw)
    return key, _untyped(key, raw)


def _untyped(key: str, raw: str) -> Any:
    try:
        value = parse_json(raw)  # bounded like content: too deep, NaN or Infinity is refused, not taken as text
    except DocumentRefused as e:
        raise InvalidInput("--var", [(join_path(key, e.key), e.message)]) from None
    except ValueError:
        return raw
    if isinstance(value, dict | list) or json.dumps(value) == raw.strip():
        return value
    return raw  # "1.10", "1e3", " 7": converting would change what was typed


def _convert(pair: str, typ: str, raw: str) -> Any:
    from chaoslib import convert_to_type  # chaoslib's own conversion, so both tools agree

    try:
        return convert_to_type(typ, raw)
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        raise InvalidInput("--var", [(pair, f"cannot convert the value to {typ}: {e}")]) from None


def load_var_file(path: Path) -> Variables:
    """One ``--var-file``; raises InvalidInput naming the file (and the line, for ``.env``)."""
    if path.suffix.lower() == ".env" or path.name == ".env":
        return Variables(environment=_read_env_file(path))
    doc = load_document(path)
    if doc is None:
        return Variables()  # an empty file: chaos run skips it too
    if not isinstance(doc, dict):
        raise InvalidInput(path, [("", "a var file must be a mapping (configuration/secrets, or key: value)")])
    if "configuration" in doc or "secrets" in doc:
        config, secrets = doc.get("configuration") or {}, doc.get("secrets") or {}
        if not isinstance(config, dict):
            raise InvalidInput(path, [("configuration", "must be a mapping of configuration keys to values")])
        if not isinstance(secrets, dict):
            raise InvalidInput(path, [("secrets", "must map each secrets scope to its keys and values")])
        return Variables(configuration={str(k): v for k, v in config.items()}, secrets=dict(secrets))
    return Variables(configuration={str(k): v for k, v in doc.items()})


def _read_env_file(path: Path) -> dict[str, str]:
    try:
        if path.stat().st_size > CONTENT_LIMITS.max_bytes:
            raise InvalidInput(path, [("", f"file is larger than {CONTENT_LIMITS.max_bytes // (1024 * 1024)} MiB")])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(path, [("", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(path, [("", f"cannot read: {e}")]) from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or "\0" in line:
            raise InvalidInput(path, [(f"line {n}", "expected KEY=value")])
        out[key] = value
    return out


def load_variables(pairs: Sequence[str], files: Sequence[Path]) -> Variables:
    """Every ``--var-file`` in order (later files win), then every ``--var`` (wins over files). The
    environment from ``.env`` files is exported here, before the experiment's configuration is read,
    exactly as ``chaos run`` does."""
    out = Variables()
    for f in files:
        loaded = load_var_file(Path(f))
        out.configuration.update(loaded.configuration)
        for scope, values in loaded.secrets.items():
            out.secrets.setdefault(scope, {}).update(values)
        out.environment.update(loaded.environment)
    os.environ.update(out.environment)
    for pair in pairs:
        key, value = parse_var(pair)
        out.configuration[key] = value
    return out
