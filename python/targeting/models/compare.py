"""``targeting compare``: fit several specs and rank them by PSIS-LOO and held-out metrics."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.core.specs import ModelSpec, SpecError
from targeting.models import runs
from targeting.models.evaluate import evaluate_run
from targeting.models.fit import fit_spec
from targeting.models.metrics import BAYES
from targeting.models.stack import Stack, save_stack

#: Above this many (rows x draws) log-likelihood values, LOO uses a thinned posterior.
MAX_LOGLIK_VALUES = 40_000_000


@dataclass
class Comparison:
    """The comparison table and where it was written."""

    table: pd.DataFrame
    csv: Path
    stack: Stack | None = None


def _loo_input(run_id: str, root: Path | None) -> object:
    """Return the run's pointwise PSIS-LOO (:func:`targeting.models.psis.loo`) for ``arviz.compare``."""
    import arviz as az

    from targeting.models.psis import loo, relative_efficiency

    saved = runs.load_run(run_id, root)
    model = saved.model()
    idata = saved.posterior()
    post = idata.posterior
    n_rows = len(saved.train)
    draws = post.sizes["chain"] * post.sizes["draw"]
    if n_rows * draws > MAX_LOGLIK_VALUES:
        step = int(np.ceil(n_rows * draws / MAX_LOGLIK_VALUES))
        idata = az.InferenceData(posterior=post.isel(draw=slice(0, None, step)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.compute_log_likelihood(idata)
    log_lik = idata.log_likelihood[next(iter(idata.log_likelihood.data_vars))]
    log_lik = log_lik.stack(__sample__=("chain", "draw")).values
    log_lik = log_lik.reshape(-1, log_lik.shape[-1])
    return loo(log_lik, relative_efficiency(idata.posterior, log_lik.shape[-1]))


def compare_specs(
    specs: list[ModelSpec],
    db: Path,
    progress: bool = True,
    out: Path | None = None,
    root: Path | None = None,
    allow_failed_diagnostics: bool = False,
    stack: bool = False,
) -> Comparison:
    """Fit each spec, then compare by PSIS-LOO (ArviZ's compare and stacking) and out-of-time metrics.

    The ``oot_*`` columns are out-of-time metrics for specs with ``as_of``, held-out-client
    metrics for a plain table (``test_split`` says which).

    LOO is only comparable between models fitted to the same rows; when the specs' training
    rows differ (other filters or cutoffs), the LOO columns are left empty and the table
    says so, and the ranking falls back to the out-of-time log loss.

    With ``stack``, the specs' stacking weights are saved as a stack
    (:mod:`targeting.models.stack`) that ``score`` scores as one mixture; it needs LOO, so
    specs fitted on different rows are refused (after the table is written).

    A spec whose fit fails its diagnostics stops the comparison (its evaluation would be
    written to ``ml.model_evaluations``) unless ``allow_failed_diagnostics``; the table's
    ``diagnostics`` column says how each fit did.
    """
    import arviz as az

    if stack and len(specs) < 2:
        raise SpecError(
            f"compare --stack: stacking weights need at least two specs fitted on the same rows; "
            f"got {len(specs)}"
        )
    by_name: dict[str, list[str]] = {}
    for spec in specs:
        by_name.setdefault(spec.name, []).append(str(spec.path or spec.name))
    for name, paths in by_name.items():
        if len(paths) > 1:
            raise SpecError(
                f"compare: specs {', '.join(paths)} share the name {name!r}; give each spec its own "
                "name (the comparison and its LOO weights are keyed by spec name)"
            )
    rows = []
    loo_inputs = {}
    n_train = {}
    for spec in specs:
        if progress:
            print(f"[compare] fitting {spec.name} ({spec.path})", file=sys.stderr, flush=True)
        fitted = fit_spec(spec, db, progress=False, root=root)
        n_train[spec.name] = fitted.n_train
        loo_inputs[spec.name] = _loo_input(fitted.run_id, root)
        ev = evaluate_run(
            fitted.run_id,
            db,
            n_boot=100,
            progress=False,
            root=root,
            held_out_clients=not spec.as_of,
            allow_failed_diagnostics=allow_failed_diagnostics,
        )
        # out of time for specs with as_of; held-out clients for a plain table
        split = "out_of_time" if spec.as_of else "held_out_clients"
        m = ev.table[(ev.table["split"] == split) & (ev.table["model"] == BAYES)].set_index("metric")
        rows.append(
            {
                "spec": spec.name,
                "run_id": fitted.run_id,
                "formula": spec.formula,
                "diagnostics": fitted.diagnostics.message,
                "test_split": split,
                "oot_roc_auc": m.loc["roc_auc", "value"],
                "oot_roc_auc_90ci": "[{:.3f}, {:.3f}]".format(
                    *m.loc["roc_auc", ["lower", "upper"]].astype(float)
                ),
                "oot_log_loss": m.loc["log_loss", "value"],
                "oot_brier": m.loc["brier", "value"],
                "oot_ece": m.loc["ece", "value"],
                "oot_lift_at_10pct": m.loc["lift_at_10pct", "value"],
            }
        )
    table = pd.DataFrame(rows).set_index("spec")
    same_rows = len(set(n_train.values())) == 1
    if same_rows and len(specs) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = az.compare(loo_inputs, ic="loo")
        table = table.join(cmp[["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "warning"]])
        table = table.sort_values("rank")
    else:
        if len(specs) > 1:
            print(
                "[compare] the specs were fitted on different rows: LOO is not comparable; "
                "ranking by out-of-time log loss",
                file=sys.stderr,
            )
        table = table.sort_values("oot_log_loss")
        table["rank"] = np.arange(len(table))
    table = table.reset_index()
    from targeting.core.settings import reports_dir

    folder = out or reports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"compare-{'-'.join(s.name for s in specs)}.csv"
    table.to_csv(csv, index=False)
    saved = None
    if stack:
        if not (same_rows and len(specs) > 1):
            raise SpecError(
                f"compare --stack: stacking weights need at least two specs fitted on the same rows "
                f"(training rows: {n_train}); the comparison is in {csv}"
            )
        saved = save_stack(dict(zip(table["run_id"], table["weight"].astype(float), strict=True)), root)
    return Comparison(table, csv, saved)
