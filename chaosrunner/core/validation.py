"""Loading content files (YAML/JSON) and turning every problem into ``file: key.path: message``.

Every loader in chaosrunner (experiments, var files, SLO catalogs, calendars, game-day plans) goes
through :func:`load_document`, and the journal store parses through :func:`parse_json_document`, so
bad input always looks the same and always ends with exit code 2
(:data:`chaosrunner.core.verdict.ExitCode.INVALID_INPUT`). Both hold the text to the size, depth and
alias limits of :mod:`chaosrunner.core.documents` while parsing, before anything trusts it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from chaosrunner.core.documents import (
    CONTENT_LIMITS,
    JOURNAL_LIMITS,
    DocumentRefused,
    Limits,
    check_size,
    key_path,
    parse_json,
    parse_yaml,
)

M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """The base of every chaosrunner document model. Its validator is built the first time it validates,
    not when its module is imported: a command pays only for the models it uses (``run`` never builds the
    calendar's or the game-day plan's), which keeps start-up short."""

    model_config = ConfigDict(defer_build=True)


__all__ = [
    "CONTENT_LIMITS",
    "JOURNAL_LIMITS",
    "InvalidInput",
    "Limits",
    "Model",
    "key_path",
    "load_document",
    "load_model",
    "parse_document",
    "parse_json_document",
    "validate_model",
]


class InvalidInput(Exception):
    """Bad input. ``problems`` are ``(key_path, message)`` pairs; ``file`` names the file."""

    def __init__(self, file: str | Path, problems: Sequence[tuple[str, str]]) -> None:
        self.file = str(file)
        self.problems = list(problems) or [("", "invalid")]
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(f"{self.file}: {key}: {msg}" if key else f"{self.file}: {msg}" for key, msg in self.problems)


def load_document(path: str | Path, limits: Limits = CONTENT_LIMITS) -> Any:
    """Parse a YAML or JSON file (by extension; YAML otherwise) within ``limits``.

    Raises InvalidInput naming the file (and the key, for depth, alias and number problems), never a
    traceback. At most ``limits.max_bytes + 1`` bytes are ever read, whatever the file claims to be."""
    p = Path(path)
    try:
        check_size(p.stat().st_size, limits)
        with p.open("rb") as f:
            data = f.read(limits.max_bytes + 1)  # a file that grew, or a device that claims size 0
        check_size(len(data), limits)
        text = data.decode("utf-8")
    except DocumentRefused as e:
        raise InvalidInput(p, [(e.key, e.message)]) from None
    except FileNotFoundError:
        raise InvalidInput(p, [("", "no such file")]) from None
    except IsADirectoryError:
        raise InvalidInput(p, [("", "is a directory, not a file")]) from None
    except UnicodeDecodeError:
        raise InvalidInput(p, [("", "not UTF-8 text")]) from None
    except OSError as e:
        raise InvalidInput(p, [("", f"cannot read: {e.strerror or e}")]) from None
    return parse_document(text, p, limits)


def parse_document(text: str, path: str | Path, limits: Limits = CONTENT_LIMITS) -> Any:
    """The pure half of :func:`load_document`: text already read, JSON when ``path`` ends in .json."""
    if Path(path).suffix.lower() == ".json":
        return parse_json_document(text, path, limits)
    try:
        return parse_yaml(text, limits)
    except DocumentRefused as e:
        raise InvalidInput(path, [(e.key, e.message)]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise InvalidInput(path, [("", f"invalid YAML{where}: {problem}")]) from None
    except (RecursionError, ValueError) as e:
        raise InvalidInput(path, [("", f"cannot parse: {type(e).__name__}")]) from None


def parse_json_document(text: str | bytes, path: str | Path, limits: Limits = CONTENT_LIMITS) -> Any:
    """JSON text within ``limits`` (size, depth, no NaN/Infinity); InvalidInput names ``path``.

    For the journal store to call with :data:`JOURNAL_LIMITS` on the bytes it read."""
    try:
        return parse_json(text, limits)
    except DocumentRefused as e:
        raise InvalidInput(path, [(e.key, e.message)]) from None
    except json.JSONDecodeError as e:
        raise InvalidInput(path, [("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]) from None
    except UnicodeDecodeError:
        raise InvalidInput(path, [("", "not UTF-8 text")]) from None
    except (RecursionError, ValueError) as e:
        raise InvalidInput(path, [("", f"cannot parse: {type(e).__name__}")]) from None


def validate_model(model: type[M], data: Any, file: str | Path, prefix: Sequence[str | int] = ()) -> M:
    """Validate ``data`` against a pydantic model; errors name ``file`` and the key path under ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            problems.append((key_path([*prefix, *err["loc"]]), msg))
        raise InvalidInput(file, problems) from None


def load_model(model: type[M], path: str | Path) -> M:
    """``load_document`` + ``validate_model`` for files that are one model from the top."""
    return validate_model(model, load_document(path), path)
