"""Loading content files (YAML/JSON) and turning every problem into ``file: key.path: message``.

Every loader in chaosrunner (experiments, SLO catalogs, calendars, game-day plans, journals) goes
through here, so bad input always looks the same and always ends with exit code 2
(:data:`chaosrunner.core.verdict.ExitCode.INVALID_INPUT`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

MAX_CONTENT_BYTES = 8 * 1024 * 1024


class InvalidInput(Exception):
    """Bad input. ``problems`` are ``(key_path, message)`` pairs; ``file`` names the file."""

    def __init__(self, file: str | Path, problems: Sequence[tuple[str, str]]) -> None:
        self.file = str(file)
        self.problems = list(problems) or [("", "invalid")]
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(f"{self.file}: {key}: {msg}" if key else f"{self.file}: {msg}" for key, msg in self.problems)


def key_path(loc: Iterable[str | int]) -> str:
    """``("extensions", 0, "blast_radius")`` → ``extensions[0].blast_radius``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (by extension; YAML otherwise). Raises InvalidInput, never a traceback."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CONTENT_BYTES:
            raise InvalidInput(p, [("", f"file is larger than {MAX_CONTENT_BYTES // (1024 * 1024)} MiB")])
        text = p.read_text(encoding="utf-8")
    except InvalidInput:
        raise
    except FileNotFoundError:
        raise InvalidInput(p, [("", "no such file")]) from None
    except IsADirectoryError:
        raise InvalidInput(p, [("", "is a directory, not a file")]) from None
    except UnicodeDecodeError:
        raise InvalidInput(p, [("", "not UTF-8 text")]) from None
    except OSError as e:
        raise InvalidInput(p, [("", f"cannot read: {e.strerror or e}")]) from None
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(p, [("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise InvalidInput(p, [("", f"invalid YAML{where}: {problem}")]) from None
    except (RecursionError, ValueError) as e:
        raise InvalidInput(p, [("", f"cannot parse: {type(e).__name__}")]) from None


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
