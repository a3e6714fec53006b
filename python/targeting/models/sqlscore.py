"""Scoring in the warehouse: a fitted run's posterior compiled into one SQL statement.

For a Bernoulli-logit model the linear predictor of a row is ``eta = x'beta + u[level]``, a
linear function of the posterior. Its posterior for each row is summarised by a mean and a
variance computed in SQL from the posterior's mean vector and covariance matrix, with no
draw-by-draw work: ``E[eta] = x'mu + mu_u`` and ``Var[eta] = x'Sigma x + var_u + 2 x'c_u``
(``c_u`` the covariance of the level's effect with ``beta``; with several factors, plus twice
each pair's level covariance). ``x'Sigma x`` is written as a sum
of squares of ``k`` linear forms (``Sigma = V D V'``), so the SQL costs about ``k^2`` products
per row, in one pass over the rows on any engine (5M rows: 3.8x a bare scan of the same
columns in DuckDB, ``BENCH_SECTIONS=score make bench``).

From ``eta ~ Normal(m, s^2)`` (a logistic model's posterior of a linear form is close to
normal; the agreement with the draw-based path is measured in the tests):

* ``p_mean`` and ``p_sd``: ``E[sigmoid(eta)]`` and ``E[sigmoid(eta)^2]`` by Gauss-Hermite
  quadrature (``NODES`` nodes, exact to about 1e-7 for a normal ``eta``);
* ``p_q05``/``p_q95``: ``sigmoid(m -/+ 1.645 s)``.

Translated terms: the intercept, numeric columns, ``scale``/``center``/``standardize`` (with
the training statistics), ``log1p``, ``log``, ``exp``, ``sqrt``, ``abs``, ``decay``, ``clip``,
``minimum``/``maximum``, B-splines ``bs(x, df=..., degree=...)`` (each basis column a
piecewise polynomial in SQL, from the fitted knots), Gaussian-process terms
``hsgp(x, m=..., c=...)`` (each of the ``m`` basis functions a ``sin`` of ``x`` with the
training centre, scale and domain), ``pairs(a, b, ...)`` (a product per pair), products of one-column terms
(``a:b``), categorical columns and
``C(x)`` (each design column a ``case`` on the level), and ``(1|factor)`` group intercepts
(several factors carry the covariances of each pair's levels, up to ``MAX_LEVEL_PAIRS``; an
unseen level adds nothing and flags the row, as in the Python path). Anything else raises
:class:`Untranslatable` naming the term. Every translation is checked before use: the SQL
design columns are evaluated on the run's training rows and must equal Bambi's design matrix.

Security: column names go through the dialect's identifier quoting, numbers are written as
``repr`` of finite floats in exponent form, level names as quoted string literals; nothing from
the spec is pasted as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from targeting.core.linpred import HSGPBasis, LinearPredictor, UnsupportedModel, expand_design
from targeting.core.missing import Imputation
from targeting.core.sqlsafe import keyed_sql, literal

#: Gauss-Hermite nodes behind p_mean and p_sd.
NODES = 16
#: Standard normal 95% quantile: the interval is sigmoid(m -/+ Z95 * s).
Z95 = 1.6448536269514722
#: SQL dialects the statement is written for (they differ in identifier quoting only).
DIALECTS = ("duckdb", "spark")
#: Design columns from which DuckDB's quadratic form uses arrays (see Program._quadratic_form).
ARRAY_MIN_COLUMNS = 24
#: Largest number of level pairs of two group factors whose covariances the statement may carry.
MAX_LEVEL_PAIRS = 100_000
#: A design value is usable when its absolute value is below this (NaN and inf are not).
FINITE = "1e308"
#: Largest absolute design-column difference accepted when checking a translation.
CHECK_TOLERANCE = 1e-6


class Untranslatable(ValueError):
    """The run has a term, family or group structure the SQL compiler does not handle."""


def quote(name: str, dialect: str) -> str:
    """Quote one identifier for ``dialect`` (the quote character doubled inside)."""
    if dialect not in DIALECTS:
        raise ValueError(f"SQL dialect {dialect!r} is not one of {DIALECTS}")
    q = '"' if dialect == "duckdb" else "`"
    return q + str(name).replace(q, q + q) + q


def number(value: float) -> str:
    """Write a finite float as an exponent literal (a DOUBLE on both engines, never a DECIMAL)."""
    v = float(value)
    if not np.isfinite(v):
        raise Untranslatable(f"the posterior holds a non-finite number ({v})")
    return f"{v:.17e}"


def text(value: object) -> str:
    """Write a string literal (single quotes doubled): :func:`targeting.core.sqlsafe.literal`."""
    return literal(value)


# A column expression, rendered once the dialect is known.
Expr = Callable[[str], str]


def _column(name: str) -> Expr:
    return lambda d: f"cast({quote(name, d)} as double)"


def _product(factors: list[Expr]) -> Expr:
    """Return the product of design expressions (an interaction of single-column components)."""
    return lambda dialect: "(" + " * ".join(f(dialect) for f in factors) + ")"


def _const(value: float) -> Expr:
    lit = number(value)
    return lambda d: lit


@dataclass
class _Translator:
    """Walks formulae's term objects and builds one SQL expression per design column."""

    term: str
    columns: set[str] = field(default_factory=set)

    def fail(self, what: str) -> Untranslatable:
        return Untranslatable(f"term {self.term!r}: {what} has no SQL translation (score it in Python)")

    def numeric(self, node: Any) -> Expr:
        kind = type(node).__name__
        if kind == "LazyVariable":
            self.columns.add(node.name)
            return _column(node.name)
        if kind == "LazyValue":
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.fail(f"the value {node.value!r}")
            return _const(node.value)
        if kind != "LazyCall":
            raise self.fail(f"the expression {node!r}")
        if node.kwargs:
            raise self.fail(f"{node.callee}() with keyword arguments")
        args = [self.numeric(a) for a in node.args]
        callee, st = node.callee, node.stateful_transform
        if callee in ("scale", "standardize", "center") and len(args) == 1:
            mean = _const(getattr(st, "mean", np.nan))
            if callee == "center":
                return lambda d: f"({args[0](d)} - {mean(d)})"
            std = _const(getattr(st, "std", np.nan))
            return lambda d: f"(({args[0](d)} - {mean(d)}) / {std(d)})"
        unary = {
            "log1p": "ln(1 + {0})",
            "log": "ln({0})",
            "exp": "exp({0})",
            "sqrt": "sqrt({0})",
            "abs": "abs({0})",
        }
        if callee in unary and len(args) == 1:
            return lambda d: unary[callee].format(args[0](d))
        if callee == "decay" and len(args) == 2:
            return lambda d: f"coalesce(exp(-{args[0](d)} / {args[1](d)}), 0)"
        if callee in ("minimum", "maximum") and len(args) == 2:
            fn = "least" if callee == "minimum" else "greatest"
            return lambda d: f"{fn}({args[0](d)}, {args[1](d)})"
        if callee == "clip" and len(args) == 3:
            return lambda d: f"least(greatest({args[0](d)}, {args[1](d)}), {args[2](d)})"
        raise self.fail(f"the call {callee}()")

    def spline(self, call: Any) -> list[Expr]:
        """Translate ``bs(x, ...)``: one piecewise polynomial in ``x`` per basis column.

        Each column is a ``case`` with one branch per knot interval, extrapolated past the
        boundary knots with the end pieces, as formulae's ``splev`` evaluation does. Only
        numbers (the fitted knots' polynomial coefficients) are written.
        """
        st = call.stateful_transform
        knots = getattr(st, "_knots", None)
        if knots is None or len(call.args) != 1:
            raise self.fail("bs() without fitted knots or with more than one column")
        x = self.numeric(call.args[0])
        return [_piecewise(x, breaks, coefs) for breaks, coefs in spline_pieces(st)]

    def gaussian_process(self, comp: Any, basis: HSGPBasis) -> list[Expr]:
        """Translate ``hsgp(x, ...)``: ``sin(f_j * (s(x) + L)) / sqrt(L)`` per basis function ``j``.

        ``s(x)`` is ``x`` centred, scaled and shifted with the training numbers, exactly as
        :class:`targeting.core.linpred.HSGPBasis` computes it.
        """
        call = comp.call if comp.kind == "numeric" and type(comp).__name__ != "Variable" else None
        if call is None or call.callee != "hsgp" or len(call.args) != 1:
            raise self.fail("an hsgp() term over several columns or with a by= factor")
        x = self.numeric(call.args[0])
        mean, scale = _const(basis.mean), _const(basis.scale)
        offset, norm = _const(basis.half_width - basis.center), _const(1.0 / np.sqrt(basis.half_width))

        def column(frequency: float) -> Expr:
            f = _const(frequency)
            return lambda d: f"(sin({f(d)} * (({x(d)} - {mean(d)}) / {scale(d)} + {offset(d)})) * {norm(d)})"

        return [column(float(v)) for v in basis.frequencies]

    def component(self, comp: Any) -> list[Expr]:
        """Design-column expressions of one component (a column or a call)."""
        if comp.kind == "categoric":
            if type(comp).__name__ == "Variable":
                name = comp.name
            else:
                call = comp.call
                if call.callee != "C" or call.kwargs or len(call.args) != 1:
                    raise self.fail(f"the categorical call {comp.name}")
                if type(call.args[0]).__name__ != "LazyVariable":
                    raise self.fail(f"the categorical call {comp.name}")
                name = call.args[0].name
            self.columns.add(name)
            matrix = np.asarray(comp.contrast_matrix.matrix, dtype=float)
            levels = [str(v) for v in comp.levels]
            return [_categorical(name, levels, matrix[:, j]) for j in range(matrix.shape[1])]
        if comp.kind != "numeric":
            raise self.fail(f"a {comp.kind} component")
        if type(comp).__name__ == "Variable":
            self.columns.add(comp.name)
            return [_column(comp.name)]
        if comp.call.callee == "cbind":
            return [self.numeric(a) for a in comp.call.args]
        if comp.call.callee == "pairs":
            args = [self.numeric(a) for a in comp.call.args]
            return [_product([a, b]) for a, b in combinations(args, 2)]
        if comp.call.callee == "bs":
            return self.spline(comp.call)
        return [self.numeric(comp.call)]


def spline_pieces(st: Any) -> list[tuple[list[float], np.ndarray]]:
    """List the polynomial pieces of each basis column of a fitted formulae ``bs`` transform.

    Returns, per design column, the left ends of the knot intervals (non-empty ones only) and
    the coefficients of each piece, highest power first, in ``x - left end``.
    """
    from scipy.interpolate import PPoly

    knots = np.asarray(st._knots, dtype=float)
    degree = int(st._degree)
    n_bases = len(knots) - (degree + 1)
    out = []
    for i in range(n_bases):
        coefs = np.zeros(n_bases)
        coefs[i] = 1.0
        pp = PPoly.from_spline((knots, coefs, degree))
        lefts = pp.x[:-1]
        wide = np.nonzero(np.diff(pp.x) > 0)[0]
        out.append(([float(lefts[j]) for j in wide], pp.c[:, wide].T.copy()))
    return out[0 if st._intercept else 1 :]


def _piecewise(x: Expr, breaks: list[float], coefs: np.ndarray) -> Expr:
    """Write ``case when x < b1 then p0(x - b0) ... else pk(x - bk) end`` (Horner form).

    The first piece also serves below its interval, the last above.
    """
    pieces = []
    for left, c in zip(breaks, coefs, strict=True):
        lit = [number(v) for v in c]
        pieces.append((number(left), lit))

    def render(d: str) -> str:
        xs = x(d)

        def horner(left: str, lit: list[str]) -> str:
            t = f"({xs} - {left})"
            body = lit[0]
            for v in lit[1:]:
                body = f"({body} * {t} + {v})"
            return body

        if len(pieces) == 1:
            return horner(*pieces[0])
        branches = " ".join(
            f"when {xs} < {pieces[j + 1][0]} then {horner(*pieces[j])}" for j in range(len(pieces) - 1)
        )
        return f"(case {branches} else {horner(*pieces[-1])} end)"

    return render


def _categorical(column: str, levels: list[str], values: np.ndarray) -> Expr:
    """``case`` on the level's text; an unseen level gives null (the row is not scored)."""

    def render(d: str) -> str:
        whens = " ".join(f"when {text(lv)} then {number(v)}" for lv, v in zip(levels, values, strict=True))
        return f"(case cast({quote(column, d)} as string) {whens} end)"

    return render


@dataclass
class Group:
    """One ``(1|factor)`` intercept: each level's posterior mean, variance and covariance with beta."""

    factor: str
    mean: dict[str, float]
    var: dict[str, float]
    cov: dict[str, np.ndarray]


@dataclass
class Program:
    """A run's posterior as SQL: design expressions, mean, covariance factor, group tables.

    Build it with :func:`compile_run`; render it with :meth:`select`.
    """

    labels: list[str]
    design: list[Expr]
    columns: list[str]
    mean: np.ndarray
    factor: np.ndarray  # (k, r): Sigma = factor @ factor.T
    groups: list[Group] = field(default_factory=list)
    #: (i, j) with i < j: covariance of group i's level effect with group j's, by level pair
    pair_cov: dict[tuple[int, int], dict[tuple[str, str], float]] = field(default_factory=dict)
    #: Gaussian-process terms by their column of the formula's design (see ``check_design``)
    hsgp: list[tuple[slice, HSGPBasis]] = field(default_factory=list)

    def select(self, source: str, id_column: str, dialect: str) -> str:
        """Return SQL scoring every row of ``source`` (a subquery) with a complete design.

        Columns: ``client_id`` (the id as text), ``eta_mean``, ``eta_sd``, ``p_mean``,
        ``p_sd``, ``p_q05``, ``p_q95`` and ``used_population_level``.
        """

        def q(name: str) -> str:
            return quote(name, dialect)

        k = len(self.design)
        xs = [f"x_{i}" for i in range(k)]
        design = ", ".join(f"{e(dialect)} as {x}" for e, x in zip(self.design, xs, strict=True))
        level = "".join(f", cast({q(g.factor)} as string) as level_{i}" for i, g in enumerate(self.groups))
        # null: a missing value or unseen category; not below 1e308: +-inf or NaN (log of 0)
        usable = " and ".join(f"abs({x}) < {FINITE}" for x in xs) or "true"
        mean = " + ".join(f"{number(m)} * {x}" for m, x in zip(self.mean, xs, strict=True)) or number(0.0)
        quad, vector = self._quadratic_form(xs, dialect)
        join, group_mean, group_var, unseen = self._group_join(xs)
        nodes, weights = np.polynomial.hermite.hermgauss(NODES)
        probs = ", ".join(
            f"{_sigmoid(f'eta_mean + {number(np.sqrt(2) * t)} * eta_sd')} as p_{n}"
            for n, t in enumerate(nodes)
        )
        first = " + ".join(f"{number(w / np.sqrt(np.pi))} * p_{n}" for n, w in enumerate(weights))
        second = " + ".join(f"{number(w / np.sqrt(np.pi))} * p_{n} * p_{n}" for n, w in enumerate(weights))
        keep = "client_id, eta_mean, eta_sd, used_population_level"
        p_sd = "sqrt(greatest(p_square - p_mean * p_mean, 0))"
        return (
            f"with scored_rows as ({source}),\n"
            f"design as (select cast({q(id_column)} as string) as client_id, {design}{level} "
            "from scored_rows),\n"
            f"usable as (select *{vector} from design where {usable}),\n"
            f"factored as (select u.*, {mean} + {group_mean} as eta_mean, {group_var} as group_var, "
            f"{unseen} as used_population_level, {quad} as quad from usable as u {join}),\n"
            f"linear as (select client_id, eta_mean, sqrt(greatest(quad + group_var, 0)) as eta_sd, "
            "used_population_level from factored),\n"
            f"nodes as (select {keep}, {probs} from linear),\n"
            f"moments as (select {keep}, {first} as p_mean, {second} as p_square from nodes)\n"
            f"select client_id, eta_mean, eta_sd, p_mean, {p_sd} as p_sd, "
            f"{_sigmoid(f'eta_mean - {number(Z95)} * eta_sd')} as p_q05, "
            f"{_sigmoid(f'eta_mean + {number(Z95)} * eta_sd')} as p_q95, used_population_level from moments"
        )

    def terms(self) -> list[str]:
        """Return the formula terms in design order, each once."""
        return list(dict.fromkeys(self.labels))

    def nonfinite_counts(self, source: str, dialect: str) -> str:
        """Return SQL counting, per term of :meth:`terms`, the rows of ``source`` it makes non-finite."""
        design = ", ".join(f"{e(dialect)} as x_{i}" for i, e in enumerate(self.design))
        counts = []
        for term in self.terms():
            cols = [f"x_{i}" for i, label in enumerate(self.labels) if label == term]
            bad = " or ".join(f"({x} is not null and not abs({x}) < {FINITE})" for x in cols)
            counts.append(f"count(case when {bad} then 1 end)")
        return (
            f"with scored_rows as ({source}), design as (select {design} from scored_rows) "
            f"select {', '.join(counts)} from design"
        )

    def _quadratic_form(self, xs: list[str], dialect: str) -> tuple[str, str]:
        """Return ``x' Sigma x`` as a sum of squared linear forms, and any column it needs.

        With at least ``ARRAY_MIN_COLUMNS`` design columns, DuckDB gets the design row as a
        fixed-size array and one ``array_inner_product`` per form (1M rows of the 67-column
        spec: 3.9 s against 14.5 s written out; 5M rows of the 10-column hierarchical spec:
        2.2 s against 1.5 s written out, hence the threshold). Spark gets the sums written out.
        """
        k, r = len(xs), self.factor.shape[1]
        if k == 0 or r == 0:
            return number(0.0), ""
        if dialect == "duckdb" and k >= ARRAY_MIN_COLUMNS:
            vector = f", [{', '.join(xs)}]::double[{k}] as xv"
            forms = [
                f"array_inner_product(u.xv, [{', '.join(number(w) for w in self.factor[:, j])}]::double[{k}])"
                for j in range(r)
            ]
        else:
            vector = ""
            forms = [
                " + ".join(
                    f"{number(w)} * u.{x}" for w, x in zip(self.factor[:, j], xs, strict=True) if w != 0.0
                )
                or number(0.0)
                for j in range(r)
            ]
        return " + ".join(f"pow({f}, 2)" for f in forms), vector

    def _group_join(self, xs: list[str]) -> tuple[str, str, str, str]:
        """Return the group-level joins, their mean and variance terms and the unseen flag.

        One ``values`` table per factor (level, mean, variance, covariance with each design
        column) and one per pair of factors (level pair, covariance). An unseen level adds
        nothing (the population-level effect) and flags the row.
        """
        if not self.groups:
            return "", "0", "0", "false"
        cov_cols = ", ".join(f"c_{i}" for i in range(len(xs)))
        joins, means, variances, unseen = [], [], [], []
        for n, g in enumerate(self.groups):
            rows = ", ".join(
                "("
                + ", ".join(
                    [text(lv), number(g.mean[lv]), number(g.var[lv])] + [number(c) for c in g.cov[lv]]
                )
                + ")"
                for lv in g.mean
            )
            cross = " + ".join(f"g{n}.c_{i} * u.{x}" for i, x in enumerate(xs)) or "0"
            cols = f"level, u_mean, u_var{', ' + cov_cols if xs else ''}"
            joins.append(f"left join (values {rows}) as g{n}({cols}) on u.level_{n} = g{n}.level")
            means.append(f"coalesce(g{n}.u_mean, 0)")
            variances.append(f"coalesce(g{n}.u_var + 2 * ({cross}), 0)")
            unseen.append(f"g{n}.level is null")
        for (i, j), covs in self.pair_cov.items():
            rows = ", ".join(f"({text(a)}, {text(b)}, {number(c)})" for (a, b), c in covs.items())
            joins.append(
                f"left join (values {rows}) as p{i}_{j}(level_a, level_b, cov) "
                f"on u.level_{i} = p{i}_{j}.level_a and u.level_{j} = p{i}_{j}.level_b"
            )
            variances.append(f"2 * coalesce(p{i}_{j}.cov, 0)")
        return " ".join(joins), " + ".join(means), " + ".join(variances), " or ".join(unseen)


def _sigmoid(z: str) -> str:
    """Return ``1 / (1 + exp(-z))`` with the exponent clamped (no overflow on either engine)."""
    return f"1 / (1 + exp(least(greatest(-({z}), -700), 700)))"


def compile_run(model: Any, posterior: Any) -> Program:
    """Compile a built Bambi model and its posterior into a :class:`Program`.

    Raises
    ------
    Untranslatable
        Naming the family, group term or term (and the call inside it) that has no
        translation, or a term whose SQL does not reproduce Bambi's design columns.

    """
    family = model.family
    parent = family.likelihood.parent
    link = family.link[parent].name
    if family.name != "bernoulli" or link != "logit":
        raise Untranslatable(f"family {family.name} with link {link}: only bernoulli with logit translates")
    try:
        lp = LinearPredictor(model, posterior)
    except UnsupportedModel as exc:
        raise Untranslatable(str(exc)) from exc
    sizes = [len(levels) for _, levels, _ in lp.groups]
    pairs = [(i, j) for i in range(len(sizes)) for j in range(i + 1, len(sizes))]
    for i, j in pairs:
        if sizes[i] * sizes[j] > MAX_LEVEL_PAIRS:
            a, b = lp.groups[i][0], lp.groups[j][0]
            raise Untranslatable(
                f"group terms (1|{a}) and (1|{b}): {sizes[i]:,} x {sizes[j]:,} level pairs, more than "
                f"{MAX_LEVEL_PAIRS:,} (their covariances would be written into the statement)"
            )
    design = lp.component.design.common
    bases = {cols.start: basis for cols, basis in lp.hsgp}
    labels: list[str] = []
    exprs: list[Expr] = []
    columns: set[str] = set()
    for name, term in design.terms.items() if design is not None else []:
        width = design.slices[name].stop - design.slices[name].start
        if type(term).__name__ == "Intercept":
            parts = [_const(1.0)]
        elif name in lp.component.hsgp_terms:
            tr = _Translator(name)
            basis = bases[design.slices[name].start]
            parts = tr.gaussian_process(term.components[0], basis)
            width = len(basis.frequencies)
            columns |= tr.columns
        else:
            tr = _Translator(name)
            per = [tr.component(c) for c in term.components]
            if len(per) == 1:
                parts = per[0]
            elif all(len(p) == 1 for p in per):
                factors = [p[0] for p in per]
                parts = [_product(factors)]
            else:
                raise tr.fail("an interaction with a multi-column component")
            columns |= tr.columns
        if len(parts) != width:
            raise Untranslatable(f"term {name!r}: {len(parts)} SQL columns for {width} design columns")
        labels += [name] * width
        exprs += parts
    beta = lp.beta if lp.beta is not None else np.zeros((0, lp.n_draws))
    beta = np.asarray(beta, dtype=np.float64)
    mean = beta.mean(axis=1)
    cov = np.atleast_2d(np.cov(beta)) if len(beta) else np.zeros((0, 0))
    vals, vecs = np.linalg.eigh(cov) if len(beta) else (np.zeros(0), np.zeros((0, 0)))
    keep = vals > vals.max(initial=0.0) * 1e-12
    factor = vecs[:, keep] * np.sqrt(vals[keep])
    program = Program(labels, exprs, sorted(columns), mean, factor, hsgp=lp.hsgp)
    centred = beta - mean[:, None]
    deviations = []
    for group, levels, u in lp.groups:
        u = np.asarray(u[:-1], dtype=np.float64)  # drop the zero row of unseen levels
        du = u - u.mean(axis=1, keepdims=True)
        deviations.append((list(levels), du))
        program.groups.append(
            Group(
                group,
                {lv: float(m) for lv, m in zip(levels, u.mean(axis=1), strict=True)},
                {lv: float(d @ d / (len(d) - 1)) for lv, d in zip(levels, du, strict=True)},
                {lv: centred @ d / (len(d) - 1) for lv, d in zip(levels, du, strict=True)},
            )
        )
    for i, j in pairs:
        (la, da), (lb, db) = deviations[i], deviations[j]
        cov = da @ db.T / (da.shape[1] - 1)
        program.pair_cov[(i, j)] = {
            (a, b): float(cov[p, q]) for p, a in enumerate(la) for q, b in enumerate(lb)
        }
    return program


def check_design(program: Program, model: Any) -> None:
    """Evaluate the SQL design columns on the training rows; they must equal Bambi's.

    A Gaussian-process term's columns are compared with its basis functions of Bambi's column.

    Raises
    ------
    Untranslatable
        Naming the first term whose SQL gives different values.

    """
    import duckdb

    design = model.components[model.family.likelihood.parent].design.common
    if design is None or not program.design:
        return
    expected = expand_design(np.asarray(design.design_matrix, dtype=np.float64), program.hsgp)
    frame = model.data
    cols = ", ".join(f"{e('duckdb')} as x_{i}" for i, e in enumerate(program.design))
    with duckdb.connect() as con:
        con.register("training_rows", frame)
        arrays = con.execute(f"select {cols} from training_rows").fetchnumpy()
    got = np.column_stack(
        [np.asarray(arrays[f"x_{i}"], dtype=np.float64) for i in range(len(program.design))]
    )
    if got.shape != expected.shape:
        raise Untranslatable(f"the SQL design has shape {got.shape}, Bambi's {expected.shape}")
    bad = ~np.isclose(got, expected, rtol=CHECK_TOLERANCE, atol=CHECK_TOLERANCE, equal_nan=True).all(axis=0)
    if bad.any():
        j = int(np.argmax(bad))
        raise Untranslatable(
            f"term {program.labels[j]!r}: its SQL does not reproduce the fitted design column "
            f"(largest difference {np.nanmax(np.abs(got[:, j] - expected[:, j])):.3g})"
        )


def impute_source(
    source: str, imputation: Imputation, id_column: str, columns: list[str], dialect: str
) -> str:
    """Wrap ``source`` so that it gives the id and ``columns`` with the run's imputation applied.

    The imputed columns keep their names (``coalesce`` with the value learnt at fit time) and
    each indicator is added as ``<column>__missing``; a run without imputation gets ``source``.
    """
    if not imputation.values:
        return source
    items = imputation.sql_columns(
        list(dict.fromkeys([id_column, *columns])), lambda name: quote(name, dialect), number, text
    )
    return f"select {', '.join(items)} from ({source}) as unimputed"


def scoring_statement(
    program: Program,
    schema: str,
    table: str,
    id_column: str,
    as_of: str | None,
    where: str | None,
    dialect: str,
    imputation: Imputation | None = None,
    columns: list[str] | None = None,
    row_key: list[str] | None = None,
) -> str:
    """Return the whole statement for ``dialect``: ``program`` over the table's latest cutoff.

    ``where`` is the spec's filter, already checked by :func:`targeting.core.sqlsafe.check_filter`;
    the cutoff is the table's own latest ``as_of`` (every row of a plain table). ``imputation``
    (the run's, over its predictor ``columns``) fills missing values as the fit did.
    ``row_key`` (the table's columns, for a spec without id) computes the row key
    :data:`targeting.core.sqlsafe.ROW_KEY` (``id_column`` then) over the whole table before any
    condition, as :func:`targeting.core.sqlsafe.keyed` does.
    """
    rel = f"{quote(schema, dialect)}.{quote(table, dialect)}"
    rows = rel if row_key is None else keyed_sql(rel, row_key, lambda name: quote(name, dialect))
    conditions = [f"({where})"] if where else []
    if as_of:
        cut = quote(as_of, dialect)
        conditions.append(f"{cut} = (select max({cut}) from {rel})")
    source = f"select * from {rows}" + (f" where {' and '.join(conditions)}" if conditions else "")
    if imputation is not None:
        source = impute_source(source, imputation, id_column, columns or [], dialect)
    return program.select(source, id_column, dialect)
