"""Stacking: several fitted specs combined by their PSIS-LOO stacking weights, scored as one.

``targeting compare --stack`` fits specs on the same rows, computes ArviZ's stacking weights
(Yao et al. 2018: the weights that maximise the leave-one-out log score of the mixture of
the models' predictive distributions) and saves the combination as a stack: a folder
``<runs>/stack-<hash>/stack.json`` naming the member runs and their weights (members with a
weight below :data:`MIN_WEIGHT` are dropped and the rest renormalised).

``targeting score --run stack-<hash>`` scores the stack: each member's posterior draws of
P(label = 1) on the rows every member can score, mixed in proportion to the weights
(``round(weight x draws)`` evenly thinned draws of each member, at least one), so
``p_mean`` is the weighted mean of the members' means and the 90% interval is the mixture's.
Members must read the same relation, cutoff column, id and filter (the same rows to score).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.core import warehouse
from targeting.core.linpred import DEFAULT_SCORE_DRAWS, LinearPredictor, UnsupportedModel, thin_posterior
from targeting.core.predict import add_counts, summarise_draws, unseen_levels
from targeting.core.settings import runs_dir
from targeting.core.sqlsafe import UnsafeSqlError, check_name
from targeting.models import runs
from targeting.models.runs import RunError, SavedRun

#: Version of ``stack.json``; a stack of another version is refused.
STACK_FORMAT_VERSION = 1
#: Members below this weight are left out of a saved stack.
MIN_WEIGHT = 1e-3
#: What a stack id starts with.
PREFIX = "stack-"


@dataclass(frozen=True)
class Stack:
    """A saved stack: its id, folder and members (run id, weight; weights sum to 1)."""

    stack_id: str
    folder: Path
    members: list[tuple[str, float]]


def is_stack(run: str, root: Path | None = None) -> bool:
    """Whether ``run`` names a saved stack (not a fitted run)."""
    return run.startswith(PREFIX) and ((root or runs_dir()) / run / "stack.json").is_file()


def save_stack(weights: dict[str, float], root: Path | None = None) -> Stack:
    """Save the runs ``weights`` (run id: stacking weight) as a stack, atomically.

    Raises
    ------
    RunError
        When no member keeps a weight of at least :data:`MIN_WEIGHT`, or the folder cannot
        be written (nothing is left half written).

    """
    kept = {run: float(w) for run, w in weights.items() if np.isfinite(w) and w >= MIN_WEIGHT}
    if not kept:
        raise RunError(f"no run has a stacking weight of at least {MIN_WEIGHT}: nothing to stack")
    total = sum(kept.values())
    members = sorted(((run, w / total) for run, w in kept.items()), key=lambda m: (-m[1], m[0]))
    body = {
        "format_version": STACK_FORMAT_VERSION,
        "members": [{"run_id": run, "weight": weight} for run, weight in members],
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    digest = hashlib.sha256(json.dumps(body["members"], sort_keys=True).encode()).hexdigest()[:12]
    stack_id = f"{PREFIX}{digest}"
    root = root or runs_dir()
    final = root / stack_id
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{stack_id}.", dir=root))
        (tmp / "stack.json").write_text(json.dumps(body, indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        raise RunError(f"cannot save stack {stack_id} in {root}: {exc.strerror or exc}") from exc
    return Stack(stack_id, final, members)


def load_stack(stack_id: str, root: Path | None = None) -> Stack:
    """Read and check a saved stack (its version, members and weights)."""
    root = root or runs_dir()
    try:
        check_name(stack_id, "stack id", str(root))
    except UnsafeSqlError as exc:
        raise RunError(str(exc)) from exc
    path = root / stack_id / "stack.json"
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(
            f"stack {stack_id}: {path} cannot be read ({exc}); save it again with compare --stack"
        ) from exc
    version = body.get("format_version") if isinstance(body, dict) else None
    if version != STACK_FORMAT_VERSION:
        raise RunError(
            f"stack {stack_id}: {path} has format_version {version!r}; this version reads "
            f"{STACK_FORMAT_VERSION} (save it again with compare --stack)"
        )
    members = []
    for item in body.get("members") or []:
        run, weight = item.get("run_id") if isinstance(item, dict) else None, None
        if isinstance(item, dict) and isinstance(item.get("weight"), int | float):
            weight = float(item["weight"])
        if not isinstance(run, str) or weight is None or not np.isfinite(weight) or weight <= 0:
            raise RunError(f"stack {stack_id}: {path} holds a malformed member {item!r}")
        members.append((run, weight))
    if not members or abs(sum(w for _, w in members) - 1.0) > 1e-6:
        raise RunError(f"stack {stack_id}: {path}: the member weights do not sum to 1")
    return Stack(stack_id, root / stack_id, members)


_SAME_ROWS = ("relation", "id", "as_of", "filter", "labels")


def _check_same_rows(saved: list[SavedRun], stack_id: str) -> None:
    """Members must score the same rows: one relation, id, cutoff column, filter and labels."""
    first = saved[0]
    for other in saved[1:]:
        for key in _SAME_ROWS:
            a, b = getattr(first.spec, key), getattr(other.spec, key)
            if a != b:
                raise RunError(
                    f"stack {stack_id}: runs {first.run_id} and {other.run_id} differ in {key} "
                    f"({a!r} vs {b!r}); a stack scores one set of rows"
                )


@dataclass
class _Member:
    saved: SavedRun
    fast: LinearPredictor
    component: Any
    fixed_levels: dict[str, set[str]]
    levels: dict[str, set[str]]


def _member(saved: SavedRun, weight: float, draws: int) -> _Member:
    model = saved.model()
    posterior = thin_posterior(saved.posterior().posterior, max(1, round(weight * draws)))
    try:
        fast = LinearPredictor(model, posterior)
    except UnsupportedModel as exc:
        raise RunError(f"run {saved.run_id} cannot be stacked: {exc}") from exc
    fixed_levels, levels = saved.record.level_sets()
    return _Member(saved, fast, model.components[model.family.likelihood.parent], fixed_levels, levels)


def _most(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the members' counts of one chunk by their largest.

    A row two members both cannot score (the same unseen category, the same non-finite term)
    is one row, not two.
    """
    out: dict[str, Any] = {}
    for member in counts:
        for key, value in member.items():
            if isinstance(value, dict):
                out[key] = _most([out.get(key, {}), value])
            else:
                out[key] = max(out.get(key, 0), value)
    return out


def score_stack(
    stack_id: str,
    db: Path,
    chunk_rows: int = 20000,
    progress: bool = True,
    root: Path | None = None,
    draws: int | None = DEFAULT_SCORE_DRAWS,
    allow_failed_diagnostics: bool = False,
) -> Any:
    """Score the latest cutoff with a stack's mixture and write ``ml.*`` in one transaction.

    Returns the same :class:`targeting.models.score.ScoreResult` as a run's scoring.
    """
    from targeting.models.score import (
        ScoreResult,
        _report,
        add_chunk,
        add_term_counts,
        check_schema,
        ranked_scores,
        report_progress,
        usable_rows,
    )

    start = time.perf_counter()
    stack = load_stack(stack_id, root)
    saved = [runs.load_run(run, root) for run, _ in stack.members]
    for s in saved:
        s.require_diagnostics(allow_failed_diagnostics, "score")
    _check_same_rows(saved, stack_id)
    members = [
        _member(s, w, draws or DEFAULT_SCORE_DRAWS) for s, (_, w) in zip(saved, stack.members, strict=True)
    ]
    first = saved[0]
    predictors = sorted({c for s in saved for c in s.record.predictors})
    pieces: dict[str, list[np.ndarray]] = {}
    unseen_fixed: dict[str, dict[str, int]] = {}
    nonfinite: dict[str, int] = {}
    n_unseen = n_skipped = 0
    with warehouse.connect(db) as con:
        src = warehouse.bind_spec(
            con, first.spec, [], first.record.relation, first.record.labels, where=f"stack {stack_id}"
        )
        for s in saved:
            check_schema(s, src.relation.columns, s.record.relation)
        total, as_of = warehouse.count_scoring_rows(con, src)
        if total == 0:
            raise RunError(f"no rows to score in {first.record.relation} at its latest cutoff")
        done = reported = 0
        for raw in warehouse.iter_scoring_frames(con, src, predictors, as_of, chunk_rows):
            usable = [usable_rows(m.saved, m.component, m.fixed_levels, raw) for m in members]
            common = np.logical_and.reduce([u.mask for u in usable])
            n_skipped += len(raw) - int(common.sum())
            add_counts(unseen_fixed, _most([u.unseen for u in usable]))
            add_term_counts(nonfinite, _most([u.nonfinite for u in usable]))
            p_draws, unseen = [], np.zeros(int(common.sum()), dtype=bool)
            for m, u in zip(members, usable, strict=True):
                within = common[u.mask]  # the member's usable rows that every member can score
                rows = u.rows[within].reset_index(drop=True)
                # a member without common terms has no design (x is None): eta builds its own
                eta = m.fast.eta(rows, None if u.x is None else u.x[within])
                p_draws.append(np.asarray(m.fast.linkinv(eta)))
                unseen |= unseen_levels(rows, m.saved.record.group_factors, m.levels)
            if len(unseen):
                summary = summarise_draws(np.concatenate(p_draws, axis=1).T)
                rows0 = usable[0].rows[common[usable[0].mask]]
                n_unseen += int(unseen.sum())
                add_chunk(pieces, rows0[first.spec.key], summary, unseen)
            done += len(raw)
            reported = report_progress(progress, done, reported, total)
    if not pieces:
        raise RunError(f"no row of {first.record.relation} can be scored by every member of stack {stack_id}")
    scores = ranked_scores(pieces, as_of)
    seconds = time.perf_counter() - start
    row = _stack_row(stack, saved, as_of, len(scores), n_unseen, seconds)
    warehouse.write_run(db, row, scores)
    if progress:
        _report(
            stack_id, first.record.relation, as_of, len(scores), n_unseen, n_skipped, unseen_fixed, nonfinite
        )
    return ScoreResult(stack_id, len(scores), n_unseen, n_skipped, unseen_fixed, as_of, seconds)


def _stack_row(
    stack: Stack,
    saved: list[SavedRun],
    as_of: Any,
    n_scored: int,
    n_unseen: int,
    seconds: float,
) -> dict[str, Any]:
    """Return the stack's ``ml.model_runs`` row: members' formulas and weights, worst diagnostics."""
    from targeting.models.score import cutoff_date

    diags = [s.record.diagnostics for s in saved]
    r_hats = [d["max_r_hat"] for d in diags if d["max_r_hat"] is not None]
    ess = [d["min_ess_bulk"] for d in diags if d["min_ess_bulk"] is not None]
    divergences = [d["divergences"] for d in diags if d["divergences"] is not None]
    ok = all(d["ok"] for d in diags)
    weights = dict(stack.members)
    first = saved[0]
    rec = first.record
    return {
        "run_id": stack.stack_id,
        "spec_name": "stack(" + ", ".join(s.spec.name for s in saved) + ")",
        "spec_path": str(stack.folder / "stack.json"),
        "spec_text": (stack.folder / "stack.json").read_text(),
        "formula": " | ".join(f"{weights[s.run_id]:.3f} x [{s.spec.formula}]" for s in saved),
        "family": first.spec.family,
        "inference_method": "stacking",
        "sampler": "; ".join(f"{s.run_id}: {s.record.sampler}" for s in saved),
        "relation": rec.relation,
        "train_as_of_min": cutoff_date(min((s.record.train_as_of_min for s in saved), key=str)),
        "train_as_of_max": cutoff_date(max((s.record.train_as_of_max for s in saved), key=str)),
        "scored_as_of": cutoff_date(as_of),
        "n_train_rows": rec.n_train_rows,
        "n_train_positives": rec.n_train_positives,
        "n_scored": n_scored,
        "n_unseen_group_rows": n_unseen,
        "max_r_hat": max(r_hats) if r_hats else None,
        "min_ess_bulk": min(ess) if ess else None,
        "divergences": sum(divergences) if divergences else None,
        "diagnostics_ok": ok,
        "diagnostics_message": "; ".join(f"{s.run_id}: {s.record.diagnostics['message']}" for s in saved),
        "status": "scored" if ok else "scored_with_failed_diagnostics",
        "fit_seconds": sum(s.record.fit_seconds for s in saved),
        "score_seconds": seconds,
        "fitted_at": max(pd.Timestamp(s.record.fitted_at) for s in saved).to_pydatetime(),
        "scored_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    }
