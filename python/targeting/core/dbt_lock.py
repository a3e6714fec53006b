"""A dbt-duckdb plugin that turns a locked warehouse into one line instead of 230.

DuckDB lets one process write a database file. When another process holds it (a BI tool,
a ``targeting`` command, a second ``dbt build``), dbt-duckdb's ``duckdb.connect`` raises, its
rollback opens the file again inside the handler, and dbt prints three chained tracebacks.
The profile loads this plugin (``plugins: [{module: targeting.core.dbt_lock}]``): before dbt-duckdb
opens the file, it tries once itself and, when the lock is held, raises dbt's own runtime
error, which dbt prints as one message naming the file and the holder.
"""

from __future__ import annotations

from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_common.exceptions import DbtRuntimeError

_MEMORY = ("", ":memory:")


def lock_message(path: str, error: str) -> str | None:
    """Return the one-line message for a lock error on ``path``, ``None`` for any other error.

    Parameters
    ----------
    path
        The warehouse file the profile names.
    error
        The text of DuckDB's exception.

    Returns
    -------
    str or None
        A sentence naming the file, the process holding it and what to do.

    """
    if "Could not set lock on file" not in error:
        return None
    holder = error.split("Conflicting lock is held in", 1)[-1].split(". See also", 1)[0].strip()
    by = f" by {holder}" if "Conflicting lock is held in" in error else ""
    return (
        f"the warehouse {path} is open in another process{by}: DuckDB allows one writer. Close the "
        "other connection (a BI tool, a running targeting command or dbt build) and run again; "
        "BI tools should read the Parquet exports (targeting export), not the warehouse file"
    )


class Plugin(BasePlugin):  # type: ignore[misc]  # dbt-duckdb ships no type information
    """Check the warehouse's write lock before dbt-duckdb opens it."""

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        """Open the file once; a held lock becomes a one-line ``DbtRuntimeError``."""
        path = str(getattr(creds, "path", "") or "")
        if path in _MEMORY or path.startswith(("md:", "motherduck:")):
            return
        try:
            duckdb.connect(path).close()
        except duckdb.IOException as exc:
            message = lock_message(path, str(exc))
            if message is None:
                raise
            raise DbtRuntimeError(message) from None
