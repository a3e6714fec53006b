"""One binding step: the columns a command will read, checked against the catalog by role.

Every command that reads a user's relation binds it here: ``fit``, ``score``, ``evaluate``
and ``compile-sql`` (a model spec, through :func:`targeting.core.warehouse.bind_spec`),
``uplift``, ``segment``, and ``abtest`` and ``lift`` (their columns named by options, their
rows from a relation or a CSV file). :func:`bind` checks, in one place and in the same words
for every command:

- the relation exists (a dbt model name, resolved through the manifest, or ``schema.table``);
- every column named exists (the message names the role and lists the relation's columns);
- each column's type suits its role (:data:`KINDS`: a key is an integer or text, a cutoff a
  date, a label or outcome a number, a feature a number or text);
- no column read as a predictor is declared measured after the cutoff or the assignment by
  the relation's dbt YAML (``meta: {measured: after_cutoff}``): an outcome is recognised by
  what the relation declares about it, not by its name;
- a spec without an id reads a relation that can carry the computed row key
  (:func:`targeting.core.sqlsafe.keyed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from targeting.core.sqlsafe import (
    MEASURED_LATE,
    Relation,
    UnsafeSqlError,
    check_filter,
    declared_timing,
    ident,
    keyed,
    one_row,
    resolve,
)

#: DuckDB type prefixes by kind, for the column checks.
NUMERIC_TYPES = (
    "BIGINT",
    "INTEGER",
    "HUGEINT",
    "SMALLINT",
    "TINYINT",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "REAL",
    "BOOLEAN",
)
DATE_TYPES = ("DATE", "TIMESTAMP")
KEY_TYPES = ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "VARCHAR", "UUID")
TEXT_TYPES = ("VARCHAR", "ENUM")

#: What each kind of role accepts: type prefixes, and how a message says it.
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "key": (KEY_TYPES, "an integer or text key"),
    "date": (DATE_TYPES, "a DATE or TIMESTAMP cutoff"),
    "number": (NUMERIC_TYPES, "numbers"),
    "number_or_text": (NUMERIC_TYPES + TEXT_TYPES, "numbers or text"),
    "boolean": (("BOOLEAN",), "true/false"),
    "any": ((), "any type"),
}


@dataclass(frozen=True)
class Role:
    """One column a command reads, and what it reads it as.

    Parameters
    ----------
    column
        The column's name, as the spec gives it.
    role
        What messages call it: ``id``, ``as_of``, ``label``, ``predictor``, ``feature``, ...
    kind
        A key of :data:`KINDS`: the types the column may have.
    expected
        The message's wording of what was expected, when the kind's is not precise enough.
    predictor
        Read as a predictor or feature: it must be known at the cutoff or before the
        assignment, so a column the relation declares measured later is refused.

    """

    column: str
    role: str
    kind: str = "any"
    expected: str = ""
    predictor: bool = False


def check_type(
    rel: Relation,
    column: str,
    allowed: tuple[str, ...],
    role: str,
    expected: str,
    where: str,
    shown: str = "",
) -> None:
    """Fail, naming the column, its type and ``expected``, unless its type starts with one of ``allowed``."""
    actual = rel.columns[column]
    if not actual.upper().startswith(allowed):
        raise UnsafeSqlError(
            f"{where}: {role} column {column!r} of {shown or rel.label} is {actual}; expected {expected}"
        )


def is_text(rel: Relation, column: str) -> bool:
    """Whether ``column`` of ``rel`` holds text (a category)."""
    return rel.columns[column].upper().startswith(TEXT_TYPES)


def bind(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    roles: Sequence[Role],
    where: str,
    manifest: Path | None = None,
    keyless: bool = False,
    moment: str = "predictors must be known at the cutoff",
    shown: str = "",
) -> Relation:
    """Resolve ``relation`` and check every column of ``roles`` against the catalog.

    Parameters
    ----------
    con
        Open warehouse connection.
    relation
        A dbt model name (resolved through ``manifest``) or ``schema.table``.
    roles
        The columns the command will read.
    where
        Prefix of every message (the spec file, the saved run).
    manifest
        dbt's manifest: resolves model names and says which columns are measured late.
    keyless
        The spec has no id: the relation must be able to carry the computed row key.
    moment
        The end of the message refusing a late column (when predictors must be known).
    shown
        How messages name the relation, when not ``schema.table`` (a CSV file read into one).

    Returns
    -------
    Relation
        The relation, with its columns and their types.

    Raises
    ------
    UnsafeSqlError
        Naming the role, the column and the relation.

    """
    rel = resolve(con, relation, manifest, where)
    shown = shown or rel.label
    if keyless:
        keyed(rel, where)
    absent = [r for r in roles if r.column not in rel.columns]
    if absent:
        more = f" (and {', '.join(repr(r.column) for r in absent[1:])})" if absent[1:] else ""
        raise UnsafeSqlError(
            f"{where}: {absent[0].role} column {absent[0].column!r} is not a column of {shown}{more}; "
            f"its columns are: {', '.join(sorted(rel.columns))}"
        )
    for r in roles:
        allowed, expected = KINDS[r.kind]
        if allowed:
            check_type(rel, r.column, allowed, r.role, r.expected or expected, where, shown)
    timing = declared_timing(manifest, rel.schema, rel.name)
    for r in roles:
        if r.predictor and timing.get(r.column) in MEASURED_LATE:
            raise UnsafeSqlError(
                f"{where}: {r.role} column {r.column!r} of {shown} is an outcome (its dbt YAML declares "
                f"meta measured: {timing[r.column]}); {moment}"
            )
    return rel


@dataclass(frozen=True)
class Scope:
    """Which rows of a bound relation a spec reads: SQL conditions, their values and the cutoff."""

    conditions: list[str]
    params: list[object]
    cutoff: date | None

    def where(self) -> str:
        """Return `` where <conditions>`` (empty without any)."""
        return f" where {' and '.join(self.conditions)}" if self.conditions else ""


def rows_in_scope(
    con: duckdb.DuckDBPyConnection,
    rel: Relation,
    where: str,
    filter_expr: str | None,
    as_of: str | None = None,
    also: Sequence[str] = (),
) -> Scope:
    """Select a spec's rows: its filter, then the latest cutoff among the rows it keeps.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse.
    rel : Relation
        The bound relation (:func:`bind`).
    where : str
        What messages name (the spec file).
    filter_expr : str or None
        The spec's filter, checked to be one condition over the relation's columns.
    as_of : str or None
        The cutoff column: the rows of the latest cutoff among those the filter keeps.
    also : sequence of str
        Further conditions (already-quoted SQL) that choose the cutoff but do not stay in
        the scope (e.g. the evaluation window is complete).

    Returns
    -------
    Scope
        The conditions and bound values selecting the rows, and the cutoff (None without
        ``as_of``, or when no row is kept).

    """
    conditions = [f"({check_filter(con, rel, filter_expr, where)})"] if filter_expr else []
    params: list[object] = []
    cutoff = None
    if as_of:
        chosen = [*conditions, *also]
        kept = f" where {' and '.join(chosen)}" if chosen else ""
        cutoff = one_row(con, f"select max({ident(as_of)}) from {rel.sql}{kept}")[0]
        conditions.append(f"{ident(as_of)} = ?")
        params.append(cutoff)
    return Scope(conditions, params, cutoff)
