"""``targeting spec init``: a starting spec written from a relation's columns and their roles.

The analyst names the relation and the label (and the id, the cutoff column and the columns
to leave out); every other column is profiled in the warehouse (one query: type, distinct
values, missing values, range, skewness) and gets a term by a fixed rule:

- a constant column, a text column with nearly one value per row (an identifier or free
  text), a date, a column the relation's dbt YAML declares measured after the cutoff, and a
  name that is not a plain identifier are left out, each with the reason in the header;
- a continuous number (at least :data:`SPLINE_MIN_DISTINCT` distinct values) gets a B-spline
  ``bs(x, df=4)``, of ``log1p(x)`` when it is non-negative and right-skewed (skewness above
  :data:`SKEWED`): a smooth effect the data shape;
- other numbers (counts, ratings, 0/1 flags and booleans) enter standardised in one
  ``cbind(...)`` term under one shared shrinkage prior (``SharedNormal``);
- text with at most :data:`CATEGORY_MAX_LEVELS` levels is a categorical ``C(x)``; with more
  (up to :data:`GROUP_MAX_LEVELS`), a varying intercept ``(1|x)``, partially pooled;
- a column with missing values is imputed (the median for numbers, a ``(missing)`` level
  for text) with an indicator, so no row is dropped.

The spec is checked by loading it before it is written; the file is never written over
unless asked. Nothing of the relation's names is pasted into SQL: columns are quoted
identifiers from the catalog, the filter is checked as the spec's would be.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from targeting.core.binding import DATE_TYPES, NUMERIC_TYPES, TEXT_TYPES, Role, bind, rows_in_scope
from targeting.core.formulas import ALLOWED_CALLS
from targeting.core.paths import refuse_overwrite, write_text_atomic
from targeting.core.specs import load_spec
from targeting.core.sqlsafe import MEASURED_LATE, declared_timing, ident

#: Distinct values from which a number is continuous (a spline) rather than a count or flag.
SPLINE_MIN_DISTINCT = 20
#: Basis columns of each spline.
SPLINE_DF = 4
#: Skewness above which a non-negative number is taken on the log1p scale.
SKEWED = 1.0
#: Most levels of a text column entered as a categorical (one coefficient per level).
CATEGORY_MAX_LEVELS = 12
#: Most levels of a text column entered as a varying intercept.
GROUP_MAX_LEVELS = 1000
#: A text column with distinct values for more than this share of its rows is an identifier.
IDENTIFIER_SHARE = 0.5
#: The sampler every starting spec gets.
SAMPLER = {"method": "nutpie", "draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.9, "seed": 1}
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class SpecInitError(ValueError):
    """The relation or the roles cannot give a starting spec."""


@dataclass(frozen=True)
class Profile:
    """What one column holds (over the rows the spec would read)."""

    name: str
    type: str
    rows: int
    present: int
    distinct: int
    minimum: float | None = None
    skewness: float | None = None


@dataclass
class Draft:
    """The starting spec: its terms, the columns left out with the reason, the imputed ones."""

    splines: list[str] = field(default_factory=list)
    linear: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def formula(self, label: str) -> str:
        """Return the Bambi formula of the drafted terms."""
        terms = [*self.splines]
        if self.linear:
            terms.append(f"cbind({', '.join(self.linear)})")
        terms += self.categorical + [f"(1|{g})" for g in self.groups]
        return f"{label} ~ " + (" + ".join(terms) if terms else "1")


def usable_name(name: str) -> bool:
    """Whether a column name can stand in a formula as written (a plain, non-reserved identifier)."""
    return bool(_PLAIN_NAME.fullmatch(name)) and not keyword.iskeyword(name) and name not in ALLOWED_CALLS


def profile_columns(
    con: duckdb.DuckDBPyConnection,
    relation_sql: str,
    where: str,
    params: list[object],
    columns: dict[str, str],
) -> tuple[int, list[Profile]]:
    """Count the rows ``relation_sql`` ``where`` selects and profile their ``columns``, in one query."""
    parts = ["count(*)"]
    for name, kind in columns.items():
        col = ident(name)
        parts += [f"count({col})", f"count(distinct {col})"]
        if kind.upper().startswith(NUMERIC_TYPES):
            value = f"cast({col} as double)"
            parts += [f"min({value})", f"skewness({value})"]
    row = con.execute(f"select {', '.join(parts)} from {relation_sql}{where}", params).fetchone()
    assert row is not None  # an aggregate query returns one row
    values = list(row)
    rows = int(values.pop(0))
    out = []
    for name, kind in columns.items():
        present, distinct = int(values.pop(0)), int(values.pop(0))
        minimum = skewness = None
        if kind.upper().startswith(NUMERIC_TYPES):
            minimum, skewness = values.pop(0), values.pop(0)
        out.append(Profile(name, kind, rows, present, distinct, minimum, skewness))
    return rows, out


def draft_terms(profiles: list[Profile], late: set[str]) -> Draft:
    """Choose each profiled column's term by the module's rules."""
    draft = Draft()
    for p in profiles:
        kind = p.type.upper()
        shown = repr(p.name)
        if p.name in late:
            draft.skipped.append(f"{shown}: declared measured after the cutoff (an outcome)")
        elif not usable_name(p.name):
            draft.skipped.append(f"{shown}: not a plain name a formula can use (rename it in a dbt model)")
        elif kind.startswith(DATE_TYPES):
            draft.skipped.append(f"{shown}: a date (derive days since it in a dbt model to use it)")
        elif p.distinct <= 1:
            draft.skipped.append(f"{shown}: one value at most (nothing to learn)")
        elif kind.startswith(TEXT_TYPES):
            _text_term(draft, p)
        elif kind.startswith(NUMERIC_TYPES):
            _number_term(draft, p)
        else:
            draft.skipped.append(f"{shown}: type {p.type} (neither a number nor text)")
    return draft


def _text_term(draft: Draft, p: Profile) -> None:
    if p.distinct > GROUP_MAX_LEVELS or p.distinct > IDENTIFIER_SHARE * max(p.present, 1):
        many = f"{p.distinct:,} distinct texts in {p.present:,} rows"
        draft.skipped.append(f"{p.name!r}: {many} (an identifier)")
        return
    if p.present < p.rows:
        draft.missing[p.name] = "level"
    if p.distinct <= CATEGORY_MAX_LEVELS:
        draft.categorical.append(f"C({p.name})")
        draft.notes.append(f"{p.name}: text, {p.distinct} levels: a categorical")
    else:
        draft.groups.append(p.name)
        draft.notes.append(f"{p.name}: text, {p.distinct:,} levels: a varying intercept (partial pooling)")


def _number_term(draft: Draft, p: Profile) -> None:
    if p.present < p.rows:
        draft.missing[p.name] = "median"
    flag = p.type.upper().startswith("BOOLEAN") or p.distinct == 2
    skewed = (
        not flag
        and p.minimum is not None
        and p.minimum >= 0
        and p.skewness is not None
        and math.isfinite(p.skewness)
        and p.skewness > SKEWED
    )
    inner = f"log1p({p.name})" if skewed else p.name
    why = f"skewness {p.skewness:.1f}, so log1p; " if skewed and p.skewness is not None else ""
    if flag:
        draft.linear.append(p.name)
        draft.notes.append(f"{p.name}: two values: a flag in the shrunk linear term")
    elif p.distinct >= SPLINE_MIN_DISTINCT:
        draft.splines.append(f"bs({inner}, df={SPLINE_DF})")
        draft.notes.append(f"{p.name}: {p.distinct:,} distinct values ({why}a spline)")
    else:
        draft.linear.append(f"scale({inner})")
        draft.notes.append(f"{p.name}: {p.distinct} distinct values ({why}standardised, shrunk linear term)")


@dataclass(frozen=True)
class InitRequest:
    """What ``spec init`` is asked: the relation, the roles and where to write."""

    relation: str
    label: str
    out: Path
    db: Path
    id: str | None = None
    as_of: str | None = None
    filter: str | None = None
    exclude: tuple[str, ...] = ()
    name: str | None = None
    force: bool = False
    manifest: Path | None = None


def init_spec(req: InitRequest) -> tuple[Path, Draft]:
    """Profile the relation, draft the spec, check that it loads, and write it to ``req.out``.

    Raises
    ------
    SpecInitError
        When the out file exists (without ``force``) or no row is selected.

    """
    where = f"spec init {req.relation}"
    if req.out.exists() and not req.force:
        raise SpecInitError(f"--out {req.out} exists; pass --force to replace it")
    refuse_overwrite(req.out, "--out", {"warehouse": req.db})
    roles = [Role(req.label, "label", "number")]
    if req.id:
        roles.append(Role(req.id, "id", "key"))
    if req.as_of:
        roles.append(Role(req.as_of, "as_of", "date"))
    roles += [Role(c, "exclude") for c in req.exclude]
    from targeting.core.warehouse import connect

    with connect(req.db) as con:
        rel = bind(con, req.relation, roles, where, req.manifest, keyless=req.id is None)
        scope = rows_in_scope(con, rel, where, req.filter)
        roles_taken = {req.label, req.id, req.as_of, *req.exclude}
        candidates = {c: t for c, t in rel.columns.items() if c not in roles_taken}
        n_rows, profiles = profile_columns(con, rel.sql, scope.where(), scope.params, candidates)
    if n_rows == 0:
        match = f" match filter {req.filter!r}" if req.filter else ""
        raise SpecInitError(f"{where}: no rows in {rel.label}{match}")
    timing = declared_timing(req.manifest, rel.schema, rel.name)
    late = {c for c, t in timing.items() if t in MEASURED_LATE}
    draft = draft_terms(profiles, late)
    text = render(req, rel.label if "." in req.relation else req.relation, draft)
    req.out.parent.mkdir(parents=True, exist_ok=True)
    check = req.out.with_name(f".{req.out.name}.check")
    try:
        check.write_text(text)
        load_spec(check)  # the same checks as any spec: the formula, the names, the sampler
    finally:
        check.unlink(missing_ok=True)
    write_text_atomic(req.out, text)
    return req.out, draft


def spec_name(relation: str) -> str:
    """Return a spec name from the relation's name: lower case, letters, digits and ``_``."""
    base = re.sub(r"[^a-z0-9_]+", "_", relation.split(".")[-1].lower()).strip("_")
    return base if base[:1].isalpha() else f"spec_{base}"


def render(req: InitRequest, relation: str, draft: Draft) -> str:
    """Return the spec's YAML with a header saying why each column got its term."""
    raw: dict[str, object] = {
        "name": req.name or spec_name(relation),
        "description": f"Starting spec written by targeting spec init from {relation}'s columns; edit it.",
        "relation": relation,
    }
    for key in ("id", "as_of", "filter"):
        value = getattr(req, key)
        if value:
            raw[key] = value
    raw["label"] = req.label
    if req.exclude:
        raw["exclude"] = list(req.exclude)
    raw["formula"] = draft.formula(req.label)
    raw["family"] = "bernoulli"
    if draft.linear:
        raw["priors"] = {"cbind": {"dist": "SharedNormal", "scale": 1.0}}
    if draft.missing:
        raw["missing"] = {"default": "drop", "columns": dict(draft.missing)}
    raw["sampler"] = dict(SAMPLER)
    header = [
        "# Starting spec from `targeting spec init`: every column of the relation but the roles got a",
        "# term by a fixed rule (docs/specs.md, 'A starting spec'). Edit the formula, then",
        "# `targeting fit --spec <this file>` and `targeting evaluate --cv 5` to compare with the baselines.",
        *[f"#   {note}" for note in draft.notes],
    ]
    if draft.skipped:
        header += ["# Left out:", *[f"#   {note}" for note in draft.skipped]]
    lines = [line.replace("\n", " ").replace("\r", " ") for line in header]
    return "\n".join(lines) + "\n" + yaml.safe_dump(raw, sort_keys=False, width=100)
