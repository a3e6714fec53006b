"""SQL built from outside input: quoted identifiers, relations checked against the catalog, filters parsed.

Nothing from a spec, a saved run or the command line is pasted into SQL as text:

- identifiers (relations, columns) are checked against DuckDB's catalog first and then written
  with :func:`ident`, which quotes them;
- values and paths are bound parameters;
- the spec's ``filter``, the one field that is SQL by design, is parsed by DuckDB
  (``json_serialize_sql`` on a bound string) and accepted only as one boolean expression over
  the relation's own columns: no subquery (so no table function such as ``read_text``), no
  second statement, no comment, no set operation or clause after it, and no function that
  reads the environment or changes state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb


class UnsafeSqlError(ValueError):
    """An identifier or expression from outside input does not resolve or is not allowed."""


#: Scalar functions a filter may not call: they read the environment or change state.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "setseed",
        "nextval",
        "currval",
        "error",
        "sql_auto_complete",
        "json_serialize_sql",
        "json_deserialize_sql",
        "json_execute_serialized_sql",
        "query",
        "query_table",
    }
)


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """Return the first row a query returns; an aggregate query always returns one.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to run the query on.
    sql : str
        The statement (identifiers already quoted); values go in ``params``.
    params : object, optional
        Bound values (a list or a mapping of named values).

    Returns
    -------
    tuple
        The row.

    """
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError("the query returned no row where one was expected")
    return row


def literal(value: object) -> str:
    """Quote one SQL string literal (``'`` doubled), whatever characters it holds."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """Quote one SQL identifier (``"`` doubled), whatever characters it holds."""
    return '"' + str(name).replace('"', '""') + '"'


#: The computed key column of a spec without ``id`` (model, uplift and segment specs alike):
#: ``row-N``, N the row's place in the order of every column of the relation (:func:`row_key_sql`).
ROW_KEY = "__row_key"


def row_key_sql(columns: Iterable[str], quote: Callable[[str], str] = ident) -> str:
    """Return SQL for the row key of a table without an id column: ``row-N``.

    N is the row's place in the order of ``columns`` (all of the relation's, in catalog
    order, nulls last), so it depends on the rows' values only, never on storage order; rows
    equal in every column are interchangeable and share their numbers between them. The
    expression runs on DuckDB and Spark.
    """
    order = ", ".join(f"{quote(c)} nulls last" for c in columns)
    return f"concat('row-', row_number() over (order by {order}))"


@dataclass(frozen=True)
class Relation:
    """A table or view that exists in the warehouse's catalog, with its columns."""

    schema: str
    name: str
    columns: dict[str, str]

    @property
    def sql(self) -> str:
        """The quoted ``"schema"."name"`` to use in SQL."""
        return f"{ident(self.schema)}.{ident(self.name)}"

    @property
    def label(self) -> str:
        """``schema.name`` for messages and run records."""
        return f"{self.schema}.{self.name}"

    def column(self, name: str, what: str, where: str) -> str:
        """Return the quoted column ``name``, or raise an error naming ``what`` and the relation's columns."""
        if name not in self.columns:
            raise UnsafeSqlError(
                f"{where}: {what} {name!r} is not a column of {self.label}; its columns are: "
                f"{', '.join(sorted(self.columns))}"
            )
        return ident(name)


def keyed(rel: Relation, where: str) -> str:
    """Return the relation with its computed row key :data:`ROW_KEY`, as a subquery to select from.

    The key is computed over the whole relation, before any filter, so that a row keeps its
    key whichever population a spec selects, and every command gives a row the same key.
    """
    if ROW_KEY in rel.columns:
        raise UnsafeSqlError(
            f"{where}: {rel.label} has a column named {ROW_KEY!r}, the name of the computed row key "
            "of a spec without id; name an id column in the spec"
        )
    return keyed_sql(rel.sql, rel.columns)


def keyed_sql(rel_sql: str, columns: Iterable[str], quote: Callable[[str], str] = ident) -> str:
    """Return :func:`keyed`'s subquery for an already quoted relation, in any dialect's quoting."""
    return f"(select *, {row_key_sql(columns, quote)} as {quote(ROW_KEY)} from {rel_sql}) as keyed"


def unit_source(rel: Relation, id_column: str | None, where: str) -> tuple[str, str]:
    """Return what to select from and the unit key column.

    That is ``rel`` and its id or, for a spec without an id, :func:`keyed` ``rel`` and
    :data:`ROW_KEY`, the key every command shares.
    """
    if id_column:
        return rel.sql, id_column
    return keyed(rel, where), ROW_KEY


def _manifest_model(name: str, manifest: Path) -> tuple[str, str]:
    if not manifest.exists():
        raise UnsafeSqlError(
            f"cannot resolve dbt model {name!r}: {manifest} not found (run `dbt build` or `dbt parse`)"
        )
    nodes = json.loads(manifest.read_text())["nodes"]
    for node in nodes.values():
        if node.get("resource_type") == "model" and node.get("name") == name:
            return str(node["schema"]), str(node.get("alias") or node["name"])
    models = sorted(n["name"] for n in nodes.values() if n.get("resource_type") == "model")
    raise UnsafeSqlError(f"dbt model {name!r} is not in {manifest}; models are: {', '.join(models)}")


#: The values a dbt column's ``meta: {measured: ...}`` may hold: when the column is known.
MEASURED = ("before_cutoff", "before_assignment", "after_cutoff", "after_assignment")
#: Of those, the ones that make a column an outcome: never a predictor or an uplift feature.
MEASURED_LATE = ("after_cutoff", "after_assignment")


def declared_timing(manifest: Path | None, schema: str, table: str) -> dict[str, str]:
    """Return what a dbt model's YAML declares about when its columns are measured.

    Returns column -> the ``measured`` value of its ``meta`` (one of :data:`MEASURED`:
    ``after_assignment`` is an outcome known only after the arm was assigned, ``after_cutoff``
    one known only after the cutoff), for the model materialised as ``schema.table``; empty for
    a relation dbt does not build or without a manifest.

    Raises
    ------
    UnsafeSqlError
        When a column declares a value outside :data:`MEASURED` (a typo must not switch the
        leak check off), naming the model, the column and the value.

    """
    if manifest is None or not manifest.exists():
        return {}
    for node in json.loads(manifest.read_text())["nodes"].values():
        if (
            node.get("resource_type") == "model"
            and str(node.get("schema")) == schema
            and str(node.get("alias") or node.get("name")) == table
        ):
            timing = {}
            for column, info in (node.get("columns") or {}).items():
                meta = {**(info.get("meta") or {}), **((info.get("config") or {}).get("meta") or {})}
                if "measured" not in meta:
                    continue
                value = meta["measured"]
                if value not in MEASURED:
                    raise UnsafeSqlError(
                        f"{node.get('original_file_path') or node.get('name')}: column {column} of model "
                        f"{node.get('name')} declares meta measured: {value!r}; "
                        f"expected one of {list(MEASURED)}"
                    )
                timing[column] = str(value)
            return timing
    return {}


def resolve(
    con: duckdb.DuckDBPyConnection, name: str, manifest: Path | None = None, where: str = "spec"
) -> Relation:
    """Resolve a dbt model name or ``schema.table`` to a relation that exists in the catalog.

    Parameters
    ----------
    con
        Open warehouse connection.
    name
        dbt model name (looked up in ``manifest``) or ``schema.table``.
    manifest
        dbt's ``target/manifest.json`` (needed for a bare model name).
    where
        Prefix of error messages (the spec file, the saved run).

    Raises
    ------
    UnsafeSqlError
        When the name is not ``model`` or ``schema.table`` or no such table or view exists.

    """
    if not isinstance(name, str) or not name:
        raise UnsafeSqlError(f"{where}: relation must be a dbt model name or schema.table, got {name!r}")
    parts = name.split(".")
    if len(parts) == 1:
        if manifest is None:
            raise UnsafeSqlError(
                f"{where}: relation {name!r} is not schema.table and no dbt manifest is given"
            )
        schema, table = _manifest_model(name, manifest)
    elif len(parts) == 2:
        schema, table = parts
    else:
        raise UnsafeSqlError(f"{where}: relation {name!r} must be a dbt model name or schema.table")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not rows:
        known = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema not in ('information_schema', 'pg_catalog') order by 1"
        ).fetchall()
        raise UnsafeSqlError(
            f"{where}: relation {name!r} does not exist in the warehouse; relations are: "
            f"{', '.join(r[0] for r in known) or 'none'}"
        )
    return Relation(schema, table, {r[0]: r[1] for r in rows})


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


_PROBE = "__marketing_mart_filter_probe"


def check_filter(con: duckdb.DuckDBPyConnection, relation: Relation, expr: str, where: str = "spec") -> str:
    """Accept ``expr`` only as one boolean expression over ``relation``'s columns.

    Returns
    -------
    str
        ``expr`` unchanged, safe to use as ``where (<expr>)`` on ``relation``.

    Raises
    ------
    UnsafeSqlError
        Naming the filter and what is not allowed in it.

    """
    if not isinstance(expr, str) or not expr.strip():
        raise UnsafeSqlError(f"{where}: filter must be a non-empty SQL condition, got {expr!r}")
    for token in (";", "--", "/*"):
        if token in expr:
            raise UnsafeSqlError(
                f"{where}: filter {expr!r} contains {token!r}; a filter is one condition, without "
                f"statement separators or comments"
            )
    probe = f"select * from {_PROBE} where ({expr})"
    parsed = json.loads(one_row(con, "select json_serialize_sql(?)", [probe])[0])
    if parsed.get("error"):
        raise UnsafeSqlError(
            f"{where}: filter {expr!r} is not one SQL condition: {parsed.get('error_message', '')}"
        )
    statements = parsed.get("statements", [])
    node = statements[0]["node"] if len(statements) == 1 else {}
    plain = (
        node.get("type") == "SELECT_NODE"
        and not node.get("modifiers")
        and not node.get("cte_map", {}).get("map")
        and not node.get("group_expressions")
        and node.get("having") is None
        and node.get("qualify") is None
        and node.get("sample") is None
        and node.get("from_table", {}).get("table_name") == _PROBE
        and node.get("where_clause") is not None
    )
    if not plain:
        raise UnsafeSqlError(
            f"{where}: filter {expr!r} is not one condition: it adds clauses, set operations or "
            f"statements around the where clause"
        )
    columns_lower = {c.lower() for c in relation.columns}
    for item in _walk(node["where_clause"]):
        kind = item.get("class")
        if kind == "SUBQUERY":
            raise UnsafeSqlError(
                f"{where}: filter {expr!r} holds a subquery; a filter may only use the columns of "
                f"{relation.label} (no subqueries or table functions)"
            )
        if kind == "COLUMN_REF":
            names = item.get("column_names", [])
            if len(names) != 1 or names[0].lower() not in columns_lower:
                raise UnsafeSqlError(
                    f"{where}: filter {expr!r} names {'.'.join(names)!r}, which is not a column of "
                    f"{relation.label}; its columns are: {', '.join(sorted(relation.columns))}"
                )
        function = str(item.get("function_name", "")).lower()
        if kind in ("FUNCTION", "WINDOW") and function in FORBIDDEN_FUNCTIONS:
            raise UnsafeSqlError(
                f"{where}: filter {expr!r} calls {item['function_name']}(), which a filter may not use"
            )
        if kind == "WINDOW" or item.get("type", "").startswith("WINDOW_"):
            raise UnsafeSqlError(f"{where}: filter {expr!r} holds a window function; use a plain condition")
    try:
        con.execute(f"select count(*) from (select * from {relation.sql} where ({expr}) limit 0)").fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise UnsafeSqlError(f"{where}: filter {expr!r} does not bind to {relation.label}: {first}") from exc
    return expr


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_name(value: str, what: str, where: str) -> str:
    """Accept a name used in file and folder names (spec name, run id): letters, digits, ``_.-``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise UnsafeSqlError(
            f"{where}: {what} {value!r} must start with a letter or digit and hold only letters, "
            f"digits, '_', '-' and '.' (at most 100 characters); it names files and folders"
        )
    return value
