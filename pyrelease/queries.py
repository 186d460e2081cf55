"""Load the named queries of queries.sql (the only SQL the Python side sends), and the body
of a plpgsql/ routine that the package also runs itself."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# CREATE ... AS $tag$ body $tag$: the body between the routine's dollar-quote tags; a
# PL/pgSQL body that is one RETURN QUERY gives its query
_BODY = re.compile(r"\bAS\s+(\$\w*\$)(.*?)\1", re.DOTALL)
_RETURN_QUERY = re.compile(r"BEGIN\s+RETURN\s+QUERY\s+(.*?);\s*END;?", re.DOTALL)


def _load() -> dict[str, str]:
    text = files("pyrelease").joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


QUERIES = _load()


def sql_dir(name: str) -> Path:
    """migrations/ or plpgsql/: inside the installed wheel, else beside the package."""
    packaged = Path(str(files("pyrelease"))) / "_sql" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


@cache
def routine_body(name: str) -> str:
    """The body of plpgsql/<name>.sql's routine (the query of a PL/pgSQL body that is one
    RETURN QUERY), as the package ships it: for a caller that must not execute the owner's
    installed routine but applies the same SQL (status runs release_health's, with its
    parameters as $1, $2, ...)."""
    text = (sql_dir("plpgsql") / f"{name}.sql").read_text(encoding="utf-8")
    found = _BODY.search(text)
    if found is None:
        raise LookupError(f"plpgsql/{name}.sql has no dollar-quoted body")
    body = found.group(2).strip()
    query = _RETURN_QUERY.fullmatch(body)
    return (query.group(1) if query else body).strip()
