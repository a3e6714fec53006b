"""Files a user names are taken literally, and no command writes over its own inputs.

DuckDB's file readers (``read_csv``, ``read_parquet``, ``read_blob``) expand ``*``, ``?`` and
``[...]`` in a path: ``read_csv('e[1].csv')`` reads ``e1.csv``. :func:`literal_pattern` escapes
those characters (each as a one-character class, ``[[]``, ``[*]``, ``[?]``), so the path,
still a bound parameter, matches exactly the file it names. :func:`refuse_overwrite` stops a
command from writing a file over the warehouse or over a file it reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: Characters DuckDB's globbing treats as a pattern.
GLOB_CHARACTERS = "[*?"
#: The first bytes of a DuckDB database file hold this magic at offset 8.
_DUCKDB_MAGIC = b"DUCK"


class PathError(ValueError):
    """A path cannot be used as asked (it would write over an input or the warehouse)."""


def literal_pattern(path: str | Path) -> str:
    """``path`` as a DuckDB file pattern that matches that one name only.

    Parameters
    ----------
    path
        A file name as the user gave it.

    Returns
    -------
    str
        The name with each glob character escaped as a one-character class.

    """
    return "".join(f"[{ch}]" if ch in GLOB_CHARACTERS else ch for ch in str(path))


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` is an existing DuckDB database file (by its header, not its name)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[8:12] == _DUCKDB_MAGIC


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwrite(out: Path, option: str, inputs: Mapping[str, Path]) -> None:
    """Refuse to write ``out`` over one of the command's ``inputs`` or over any DuckDB database.

    Parameters
    ----------
    out
        The file the command would write.
    option
        The option that named it (``--out``), for the message.
    inputs
        What the command reads, by role (``warehouse``: the ``--db`` file, ...).

    Raises
    ------
    PathError
        Naming the option, the file and what it is.

    """
    for role, path in inputs.items():
        if _same(out, path) or out.resolve() == path.resolve():
            raise PathError(f"{option} {out} is the command's {role}; choose another file")
    if is_duckdb_file(out):
        raise PathError(f"{option} {out} is a DuckDB database; refusing to write over it")
    if out.exists() and not out.is_file():
        raise PathError(f"{option} {out} is a folder or device, not a file")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
