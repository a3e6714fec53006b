"""Bambi formulas: the documented transforms, and the check that a formula uses nothing else.

formulae (Bambi's formula engine) resolves a call such as ``np.log(x)`` by looking the name
up in the calling frame's locals and globals and following dots with ``getattr``: left alone,
a formula could reach ``os``, ``__builtins__`` or a DataFrame's ``to_csv``. Two guards:

1. :func:`check_formula`, run when a spec loads (also a saved run's), reads the formula's
   tokens and accepts only calls to :data:`ALLOWED_CALLS`, plain column names (no dots), numbers,
   strings and formula operators, naming the first term that breaks the rule.
2. :func:`restrict_formula_namespace` (applied by :func:`new_model`) replaces formulae's two
   lookups: a call resolves only to an allowed transform, a bare name only to a column of
   the data. Even a formula that got past the first check reaches nothing else.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np


class FormulaError(ValueError):
    """A formula uses a call, name or syntax outside the documented set."""


def decay(days: Any, half_days: float) -> Any:
    """``exp(-days / half_days)``: 1 today, fading with age (missing days give 0).

    Use for effects that fade with time, e.g. ``scale(decay(days_since_first_order, 30))``:
    clients in their first month buy far more often than later.
    """
    x = np.asarray(days, dtype=float)
    return np.where(np.isnan(x), 0.0, np.exp(-np.nan_to_num(x, nan=0.0) / float(half_days)))


def cbind(*columns: Any) -> Any:
    """Bind columns side by side into one term with one coefficient per column.

    Use it to give many predictors one shared prior, e.g. a regularised horseshoe whose global
    scale is learnt from all of them: ``y ~ cbind(scale(a), scale(log1p(b)), decay(c, 30))``
    with ``priors: {cbind: {dist: RegularizedHorseshoe, ...}}`` (the term is stored as ``cbind``,
    a second one as ``cbind_2``). Booleans count as 0/1.
    """
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


def pairs(*columns: Any) -> Any:
    """Every pairwise product of the columns as one term: ``pairs(a, b, c)`` is a*b, a*c, b*c.

    Use it for the interactions among a few predictors under one shared shrinkage prior, so
    the data decide which pairs matter: ``y ~ scale(a) + scale(b) + scale(c) +
    pairs(scale(a), scale(b), scale(c))``. Its default prior is ``SharedNormal``: one learnt
    scale for all pairs (per column's SD); a spec may key another, e.g. a horseshoe, by the
    alias ``pairs`` (a second term is ``pairs_2``). Booleans count as 0/1.
    """
    values = [np.asarray(c, dtype=float) for c in columns]
    return np.column_stack([values[i] * values[j] for i, j in combinations(range(len(values)), 2)])


#: Functions a formula may call besides formulae's own transforms below.
TRANSFORMS: dict[str, Any] = {
    "cbind": cbind,
    "pairs": pairs,
    "decay": decay,
    "log1p": np.log1p,
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "clip": np.clip,
    "minimum": np.minimum,
    "maximum": np.maximum,
}
#: formulae's built-in transforms a formula may call (stateful scale/center/standardize,
#: categorical C, offset, the identity I for arithmetic on columns, B-splines
#: ``bs(x, df=4)``: a smooth non-linear effect of ``x``, knots at the training quantiles) and
#: Bambi's Hilbert-space Gaussian process ``hsgp(x, m=10, c=1.5)``: a smooth effect of ``x``
#: whose wiggliness (length scale) and size are learnt from the data.
FORMULAE_TRANSFORMS = ("scale", "center", "standardize", "C", "offset", "I", "bs", "hsgp")
#: Every call a formula may make.
ALLOWED_CALLS = frozenset(TRANSFORMS) | frozenset(FORMULAE_TRANSFORMS)
#: Largest value of each whole-number argument of ``bs()``: a spline of a million basis
#: columns (or of degree 50) is a typo or an attack, and would take the machine's memory.
SPLINE_LIMITS = {"df": 30, "degree": 5}
#: ``hsgp()``'s arguments: ``m`` basis functions (a whole number up to this), ``c`` the
#: proportion by which the approximation's domain extends the data's half-range (from the
#: lower bound, below which the approximation is poor near the data's edges, to the upper),
#: and an optional covariance function.
HSGP_MAX_BASIS = 40
HSGP_C_RANGE = (1.2, 10.0)
HSGP_COVARIANCES = ("ExpQuad", "Matern52", "Matern32")
#: Most columns ``pairs()`` takes: 20 columns make 190 pairwise products.
PAIRS_MAX_COLUMNS = 20

#: Token kinds of formulae's scanner that carry no name: operators, literals, brackets.
_PLAIN_TOKENS = frozenset(
    {
        "TILDE",
        "PLUS",
        "MINUS",
        "STAR",
        "STAR_STAR",
        "SLASH",
        "SLASH_SLASH",
        "COLON",
        "PIPE",
        "LEFT_PAREN",
        "RIGHT_PAREN",
        "COMMA",
        "EQUAL",
        "NUMBER",
        "STRING",
        "PYTHON_LITERAL",
        "BANG_EQUAL",
        "EQUAL_EQUAL",
        "LESS",
        "LESS_EQUAL",
        "GREATER",
        "GREATER_EQUAL",
        "MODULO",
        "EOF",
    }
)


def check_formula(formula: str, where: str, label: str | None = None) -> None:
    """Refuse a formula that calls anything outside :data:`ALLOWED_CALLS` or names a dotted path.

    Parameters
    ----------
    formula
        The Bambi formula.
    where
        Prefix of the error message (the spec file).
    label
        The label column: refused on the right of ``~``, also inside a transform
        (``y ~ scale(y)`` would predict the outcome from itself).

    Raises
    ------
    FormulaError
        Naming the offending term and what is allowed.

    """
    from formulae.scanner import Scanner

    try:
        tokens = Scanner(formula).scan()
    except Exception as exc:  # formulae's scanner raises ScanError and others
        raise FormulaError(f"{where}: formula {formula!r} does not parse: {exc}") from exc
    allowed = ", ".join(sorted(ALLOWED_CALLS, key=str.lower))
    right = False
    for i, token in enumerate(tokens):
        kind, lexeme = str(token.kind), str(token.lexeme)
        following = str(tokens[i + 1].kind) if i + 1 < len(tokens) else "EOF"
        right = right or kind == "TILDE"
        if (
            right
            and label is not None
            and kind in ("IDENTIFIER", "BQNAME")
            and following != "LEFT_PAREN"
            and lexeme.strip("`") == label
        ):
            raise FormulaError(
                f"{where}: formula {formula!r} reads the label {label!r} on the right of '~' "
                "(a model of the outcome from itself leaks it); use only columns known before the cutoff"
            )
        if kind == "IDENTIFIER":
            if following == "LEFT_PAREN":
                if lexeme not in ALLOWED_CALLS:
                    raise FormulaError(
                        f"{where}: formula term {lexeme}(...) calls a function that formulas may not "
                        f"use; allowed: {allowed}"
                    )
            elif "." in lexeme or lexeme.startswith("_"):
                raise FormulaError(
                    f"{where}: formula names {lexeme!r}, which is not a column name (no dots or "
                    f"leading underscores); columns are plain names, functions are: {allowed}"
                )
        elif kind == "BQNAME":
            continue
        elif kind not in _PLAIN_TOKENS:
            raise FormulaError(
                f"{where}: formula {formula!r} holds {lexeme!r}, which formulas may not use "
                f"(no brackets, braces or attribute access)"
            )
    _check_call_arguments(tokens, formula, where)


def _call_arguments(tokens: list[Any], start: int) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    """Split the call whose name is ``tokens[start]`` into positional and keyword arguments.

    Returns the positional arguments' tokens and the keyword arguments' value tokens by name.
    """
    args: list[list[Any]] = [[]]
    depth, j = 0, start + 1
    while j < len(tokens):
        kind = str(tokens[j].kind)
        if kind == "LEFT_PAREN":
            depth += 1
            if depth == 1:
                j += 1
                continue
        elif kind == "RIGHT_PAREN":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and kind == "COMMA":
            args.append([])
        elif depth >= 1:
            args[-1].append(tokens[j])
        j += 1
    positional: list[list[Any]] = []
    keywords: dict[str, list[Any]] = {}
    for arg in args:
        if len(arg) >= 2 and str(arg[0].kind) == "IDENTIFIER" and str(arg[1].kind) == "EQUAL":
            keywords[str(arg[0].lexeme)] = arg[2:]
        elif arg:
            positional.append(arg)
    return positional, keywords


def _text(tokens: list[Any]) -> str:
    return "".join(str(t.lexeme) for t in tokens)


def _whole(value: list[Any], low: int, high: int) -> int | None:
    """Return the tokens' whole number when it lies in [low, high], else ``None``."""
    text = _text(value)
    return int(text) if text.isdigit() and low <= int(text) <= high else None


def _check_call_arguments(tokens: list[Any], formula: str, where: str) -> None:
    """Check the arguments of every ``bs()``, ``hsgp()`` and ``pairs()`` call against their limits."""
    for i, token in enumerate(tokens):
        name = str(token.lexeme)
        if str(token.kind) != "IDENTIFIER" or name not in ("bs", "hsgp", "pairs"):
            continue
        if i + 1 >= len(tokens) or str(tokens[i + 1].kind) != "LEFT_PAREN":
            continue
        positional, keywords = _call_arguments(tokens, i)
        if name == "pairs":
            if keywords or not 2 <= len(positional) <= PAIRS_MAX_COLUMNS:
                raise FormulaError(
                    f"{where}: formula {formula!r}: pairs() takes 2 to {PAIRS_MAX_COLUMNS} columns or "
                    f"expressions and no keyword arguments, got {len(positional)} and "
                    f"{sorted(keywords) or 'none'}"
                )
        elif name == "bs":
            for arg, limit in SPLINE_LIMITS.items():
                if arg in keywords and _whole(keywords[arg], 1, limit) is None:
                    raise FormulaError(
                        f"{where}: formula {formula!r}: bs() argument {arg} is "
                        f"{_text(keywords[arg])!r}; expected a whole number from 1 to {limit}"
                    )
        else:
            _check_hsgp(positional, keywords, f"{where}: formula {formula!r}: hsgp()")


def _check_hsgp(positional: list[list[Any]], keywords: dict[str, list[Any]], where: str) -> None:
    """Refuse an ``hsgp()`` call outside ``hsgp(x, m=<1..40>, c=<1.2..10>[, cov='ExpQuad'])``."""
    low, high = HSGP_C_RANGE
    usage = f"write hsgp(x, m=10, c=1.5) with m from 1 to {HSGP_MAX_BASIS} and c from {low} to {high}"
    if len(positional) != 1:
        raise FormulaError(
            f"{where} takes exactly one column or expression, got {len(positional)} "
            f"(a Gaussian process over several columns is not supported); {usage}"
        )
    unknown = sorted(set(keywords) - {"m", "c", "cov"})
    if unknown:
        raise FormulaError(
            f"{where} argument {unknown[0]!r} is not supported (only m, c and cov: the domain is set "
            f"by c and the predictor is scaled automatically); {usage}"
        )
    for arg in ("m", "c"):
        if arg not in keywords:
            raise FormulaError(f"{where} needs the argument {arg}; {usage}")
    if _whole(keywords["m"], 1, HSGP_MAX_BASIS) is None:
        raise FormulaError(
            f"{where} argument m is {_text(keywords['m'])!r}; expected a whole number from 1 to "
            f"{HSGP_MAX_BASIS}"
        )
    c = _text(keywords["c"])
    try:
        value = float(c) if all(str(t.kind) == "NUMBER" for t in keywords["c"]) else float("nan")
    except ValueError:
        value = float("nan")
    if not HSGP_C_RANGE[0] <= value <= HSGP_C_RANGE[1]:
        raise FormulaError(
            f"{where} argument c is {c!r}; expected a number from {HSGP_C_RANGE[0]} to {HSGP_C_RANGE[1]}"
        )
    if "cov" in keywords:
        value_tokens = keywords["cov"]
        cov = _text(value_tokens)
        quoted = len(value_tokens) == 1 and str(value_tokens[0].kind) == "STRING"
        if not quoted or cov.strip("'\"") not in HSGP_COVARIANCES:
            raise FormulaError(
                f"{where} argument cov is {cov!r}; expected one of {', '.join(HSGP_COVARIANCES)} (quoted)"
            )


def _resolve_call(name: str, env: Any) -> Any:
    """Resolve a formula call as formulae's ``get_function_from_module`` would, allowed calls only."""
    if name in TRANSFORMS:
        return TRANSFORMS[name]
    if name in FORMULAE_TRANSFORMS:
        from formulae.transforms import TRANSFORMS as FORMULAE_BUILTINS

        return FORMULAE_BUILTINS[name]
    raise FormulaError(
        f"formula term {name}(...) calls a function that formulas may not use; "
        f"allowed: {', '.join(sorted(ALLOWED_CALLS, key=str.lower))}"
    )


def _column_only(self: Any, data_mask: Any, env: Any) -> Any:
    """Evaluate a bare name as a column of the data (formulae's ``LazyVariable.eval``), nothing else."""
    try:
        return data_mask[self.name]
    except KeyError:
        raise FormulaError(f"formula names {self.name!r}, which is not a column of the data") from None


def restrict_formula_namespace() -> None:
    """Make formulae resolve calls from :data:`ALLOWED_CALLS` only and names from the data only.

    formulae looks names up in the frame that calls ``bambi.Model`` (its locals and globals)
    and follows dotted names with ``getattr``. After this patch a call resolves only to a
    documented transform and a bare name only to a column of the data being evaluated, so a
    formula cannot reach a module, a builtin or an object's methods, whatever frame built it.
    Idempotent.
    """
    import bambi.terms.utils as bambi_terms
    from formulae.terms import call_resolver

    if getattr(call_resolver.get_function_from_module, "_marketing_mart_patched", False):
        return
    _resolve_call._marketing_mart_patched = True  # type: ignore[attr-defined]
    call_resolver.get_function_from_module = _resolve_call
    bambi_terms.get_function_from_module = _resolve_call
    call_resolver.LazyVariable.eval = _column_only


def new_model(formula: str, data: Any, **options: Any) -> Any:
    """Build ``bambi.Model(formula, data, **options)``; only allowed calls and data columns are in reach."""
    import bambi as bmb

    restrict_formula_namespace()
    return bmb.Model(formula, data, extra_namespace=dict(TRANSFORMS), **options)
