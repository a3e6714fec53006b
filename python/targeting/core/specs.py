"""Model specs: the YAML files an analyst edits (``python/specs/*.yml``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targeting.core.formulas import FormulaError, check_formula
from targeting.core.missing import MissingPolicy, MissingPolicyError, Rule, check_listed, parse_missing
from targeting.core.specfile import SpecFileError, did_you_mean, parse_spec_yaml, read_spec_text
from targeting.core.sqlsafe import ROW_KEY, UnsafeSqlError, check_name

INFERENCE_METHODS = ("nutpie", "pymc", "numpyro", "blackjax", "vi", "laplace")
NUTPIE_BACKENDS = ("numba", "jax")
MASS_MATRICES = ("diag", "low_rank")
PRECISIONS = ("float64", "float32")
FAMILIES = ("bernoulli",)
LINKS = ("logit", "probit", "cloglog")


class SpecError(ValueError):
    """A spec file is missing a key or holds an invalid value."""


@dataclass(frozen=True)
class Sampler:
    """How to fit: inference method and its settings.

    ``backend`` (``numba`` or ``jax``) and ``mass_matrix`` (``diag`` or ``low_rank``) apply to
    nutpie only: ``jax`` compiles the model with XLA (fast to compile, fused element-wise
    work) and ``low_rank`` adapts a mass matrix that also follows the few directions in which
    coefficients are correlated, so each draw needs fewer gradient evaluations.

    ``precision`` is PyTensor's ``floatX`` while the model is built and sampled: ``float32``
    evaluates the log density and its gradient in single precision, which made nutpie on JAX
    about 1.6x faster on the 50k-row hierarchical spec here (``make bench``). Stored draws
    stay float64. The default ``float64`` is PyMC's own.
    """

    method: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    seed: int = 20240217
    backend: str = "numba"
    mass_matrix: str = "diag"
    precision: str = "float64"


@dataclass(frozen=True)
class ModelSpec:
    """A Bambi model an analyst can change by editing one YAML file.

    Parameters
    ----------
    name
        Short identifier; run ids start with it.
    relation
        A dbt model name (resolved through ``target/manifest.json``) or ``schema.table``.
    id
        Client key column; optional. Without it each row is keyed ``row-N`` (see
        :data:`ROW_KEY`): N is the row's place in the order of all the relation's columns,
        so the same table gives the same keys in ``fit``, ``score`` and ``evaluate``.
    label
        0/1 label column (in ``labels`` when given, else in ``relation``).
    formula
        Bambi formula, e.g. ``purchased_next_90d ~ scale(log1p(orders_365d)) + (1|favourite_channel)``.
    family
        Bambi family; ``bernoulli``.
    link
        ``logit`` (default), ``probit`` or ``cloglog``.
    as_of
        Cutoff column (a date); training uses labelled cutoffs before the latest, scoring the
        latest. Omit it for a plain table (one row per customer, no dates): training then
        uses every labelled row and scoring every row.
    labels
        Relation holding the label, joined on (id, as_of), or on id without ``as_of``; omit
        if the label is in ``relation``.
    filter
        Optional SQL condition on ``relation``'s columns selecting the population.
    exclude
        Columns the baselines of ``targeting evaluate`` must not use as features besides
        the id, the label and ``as_of`` (which they never use), e.g. columns that leak the
        outcome.
    train_cutoffs
        Use only the latest N labelled training cutoffs (default: all).
    max_train_rows
        Deterministic hash sample of at most this many training rows (default: all).
    priors
        Bambi priors, ``{term: {dist: Normal, mu: 0, sigma: 1}}``.
    missing
        What to do with a missing predictor value (:mod:`targeting.core.missing`): drop the row
        (the default), or impute (median, mean, a constant, or a ``(missing)`` level for text)
        with a missing indicator.
    noncentered
        Non-centred group terms (Bambi's default, best when groups are small); ``false``
        samples them centred, which suits groups with thousands of rows each.
    sampler
        Inference method and settings.

    """

    name: str
    relation: str
    id: str | None
    label: str
    formula: str
    family: str = "bernoulli"
    link: str = "logit"
    as_of: str | None = None
    labels: str | None = None
    filter: str | None = None
    exclude: tuple[str, ...] = ()
    train_cutoffs: int | None = None
    max_train_rows: int | None = None
    priors: dict[str, Any] = field(default_factory=dict)
    noncentered: bool = True
    sampler: Sampler = field(default_factory=Sampler)
    missing: MissingPolicy = field(default_factory=MissingPolicy)
    text: str = ""
    path: str = ""

    @property
    def digest(self) -> str:
        """Short hash of the spec text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:10]

    @property
    def key(self) -> str:
        """The unit key column: the id, or :data:`ROW_KEY` (computed) for a spec without one."""
        return self.id or ROW_KEY

    @property
    def keys(self) -> list[str]:
        """The row key's columns: the unit key, and ``as_of`` when the spec has one."""
        return [self.key, *([self.as_of] if self.as_of else [])]

    def with_sampler(self, **overrides: Any) -> ModelSpec:
        """Copy with some sampler settings replaced (``None`` values are ignored)."""
        values = {**self.sampler.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
        extra = {k: v for k, v in overrides.items() if v is not None}
        text = self.text + (f"\n# overrides: {extra}\n" if extra else "")
        return ModelSpec(**{**self.__dict__, "sampler": parse_sampler(values, self.path), "text": text})


_REQUIRED = ("name", "relation", "label", "formula")
_KNOWN = set(_REQUIRED) | {
    "id",
    "family",
    "link",
    "as_of",
    "labels",
    "filter",
    "exclude",
    "train_cutoffs",
    "max_train_rows",
    "priors",
    "noncentered",
    "sampler",
    "missing",
    "description",
}


def parse_sampler(raw: Mapping[str, Any], where: str) -> Sampler:
    """Validate sampler settings (a spec's ``sampler`` mapping, or a saved run's) into a ``Sampler``."""
    unknown = set(raw) - set(Sampler.__dataclass_fields__)
    if unknown:
        first = sorted(unknown, key=str)[0]
        raise SpecError(
            f"{where}: unknown sampler setting {first!r}"
            f"{did_you_mean(first, set(Sampler.__dataclass_fields__))}; "
            f"expected some of {sorted(Sampler.__dataclass_fields__)}"
        )
    for key in ("draws", "tune", "chains", "seed"):
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool)):
            raise SpecError(f"{where}: sampler.{key} must be a whole number, got {raw[key]!r}")
    if "target_accept" in raw and (
        not isinstance(raw["target_accept"], int | float) or isinstance(raw["target_accept"], bool)
    ):
        raise SpecError(
            f"{where}: sampler.target_accept must be a number in [0.5, 1), got {raw['target_accept']!r}"
        )
    if "seed" in raw and not 0 <= raw["seed"] < 2**32:
        raise SpecError(f"{where}: sampler.seed must be in [0, 2**32), got {raw['seed']!r}")
    s = Sampler(**raw)
    choices = {
        "method": INFERENCE_METHODS,
        "backend": NUTPIE_BACKENDS,
        "mass_matrix": MASS_MATRICES,
        "precision": PRECISIONS,
    }
    for key, allowed in choices.items():
        if getattr(s, key) not in allowed:
            raise SpecError(f"{where}: sampler.{key} is {getattr(s, key)!r}; expected one of {allowed}")
    for key in ("draws", "chains"):
        if not isinstance(getattr(s, key), int) or getattr(s, key) < 1:
            raise SpecError(f"{where}: sampler.{key} must be a positive integer, got {getattr(s, key)!r}")
    if not isinstance(s.tune, int) or s.tune < 0:
        raise SpecError(f"{where}: sampler.tune must be a whole number >= 0, got {s.tune!r}")
    if not 0.5 <= float(s.target_accept) < 1:
        raise SpecError(f"{where}: sampler.target_accept must be in [0.5, 1), got {s.target_accept!r}")
    return s


def read_missing(
    raw: Any, where: str, columns: list[str] | None = None, default: Rule = "drop"
) -> MissingPolicy:
    """Parse a spec's ``missing`` entry (:mod:`targeting.core.missing`) as a ``SpecError`` names it.

    ``columns``, when the spec's columns are known at load (uplift and segment features), are
    the only ones ``missing.columns`` may name.
    """
    try:
        policy = parse_missing(raw, where, default)
        if columns is not None:
            check_listed(policy, columns, where)
    except MissingPolicyError as exc:
        raise SpecError(str(exc)) from None
    return policy


def read_spec_file(
    path: str | Path,
    what: str,
    required: tuple[str, ...],
    known: set[str],
    text_keys: tuple[str, ...],
    hints: dict[str, str] | None = None,
) -> tuple[Path, str, dict[str, Any]]:
    """Read a YAML spec file and run the checks every kind of spec shares.

    The file exists and is a YAML mapping, every ``required`` key has a value, no key is
    outside ``known``, the ``text_keys`` present are text, and ``name`` is a safe name.
    ``hints`` adds a sentence to the message of a missing key. Returns (path, text, mapping).
    """
    try:
        p, text = read_spec_text(path, what)
        raw = parse_spec_yaml(text, str(p))
    except SpecFileError as exc:
        raise SpecError(str(exc)) from None
    if not isinstance(raw, dict):
        raise SpecError(f"{p}: expected a mapping with keys {list(required)}")
    bad_keys = [k for k in raw if not isinstance(k, str)]
    if bad_keys:
        raise SpecError(f"{p}: key {bad_keys[0]!r} is not text; keys are names such as {list(required)}")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError(
            f"{p}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], known)}"
            + (f" (and {unknown[1:]})" if unknown[1:] else "")
            + f"; expected some of {sorted(known)}"
        )
    missing = [k for k in required if raw.get(k) in (None, "", [])]
    if missing:
        hint_of = hints or {}
        hint = "".join(f" ({hint_of[k]})" for k in missing if k in hint_of)
        raise SpecError(f"{p}: missing required key(s) {missing}{hint}")
    for key in text_keys:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise SpecError(f"{p}: {key} must be text, got {type(raw[key]).__name__} {raw[key]!r}")
        if isinstance(raw.get(key), str) and not raw[key].strip():
            # an empty optional key is not the same as leaving it out: say which was meant
            raise SpecError(f"{p}: {key} is empty; give a value or leave the key out")
    try:
        check_name(raw["name"], "name", str(p))
    except UnsafeSqlError as exc:
        raise SpecError(str(exc)) from exc
    return p, text, raw


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a spec file.

    Parameters
    ----------
    path
        Path to a YAML spec.

    Returns
    -------
    ModelSpec
        The validated spec, with its text kept for the run record.

    Raises
    ------
    SpecError
        When the file is missing, is not a mapping, lacks a required key, or has a bad value.

    """
    p, text, raw = read_spec_file(
        path,
        "spec",
        _REQUIRED,
        _KNOWN,
        ("name", "relation", "id", "label", "formula", "as_of", "labels", "filter"),
    )
    if not isinstance(raw.get("sampler") or {}, dict):
        raise SpecError(f"{p}: sampler must be a mapping of setting to value, got {raw['sampler']!r}")
    family = raw.get("family", "bernoulli")
    if family not in FAMILIES:
        raise SpecError(f"{p}: family is {family!r}; expected one of {FAMILIES}")
    link = raw.get("link", "logit")
    if link not in LINKS:
        raise SpecError(f"{p}: link is {link!r}; expected one of {LINKS}")
    formula = str(raw["formula"])
    if "~" not in formula:
        raise SpecError(f"{p}: formula {formula!r} has no '~' (expected 'label ~ terms')")
    lhs = formula.split("~", 1)[0].strip()
    if lhs != raw["label"]:
        raise SpecError(f"{p}: formula's left side {lhs!r} is not the label {raw['label']!r}")
    try:
        check_formula(formula, str(p), label=str(raw["label"]))
    except FormulaError as exc:
        raise SpecError(str(exc)) from exc
    exclude = raw.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(c, str) and c for c in exclude):
        raise SpecError(f"{p}: exclude must be a list of column names, got {exclude!r}")
    if raw.get("labels") is not None and raw.get("id") is None:
        raise SpecError(f"{p}: labels is joined on the id: name the id column (or put the label in relation)")
    if raw.get("train_cutoffs") is not None and not raw.get("as_of"):
        raise SpecError(f"{p}: train_cutoffs needs an as_of column (a plain table has no cutoffs)")
    for key in ("train_cutoffs", "max_train_rows"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise SpecError(f"{p}: {key} must be a positive integer, got {value!r}")
    priors = raw.get("priors") or {}
    if not isinstance(priors, dict):
        raise SpecError(f"{p}: priors must be a mapping of term to prior")
    noncentered = raw.get("noncentered", True)
    if not isinstance(noncentered, bool):
        raise SpecError(f"{p}: noncentered must be true or false, got {noncentered!r}")
    missing = read_missing(raw.get("missing"), str(p))
    return ModelSpec(
        name=str(raw["name"]),
        relation=str(raw["relation"]),
        id=raw.get("id"),
        label=str(raw["label"]),
        formula=formula,
        family=family,
        link=link,
        as_of=raw.get("as_of") or None,
        labels=raw.get("labels"),
        filter=raw.get("filter"),
        exclude=tuple(exclude),
        train_cutoffs=raw.get("train_cutoffs"),
        max_train_rows=raw.get("max_train_rows"),
        priors=priors,
        noncentered=noncentered,
        sampler=parse_sampler(raw.get("sampler") or {}, str(p)),
        missing=missing,
        text=text,
        path=str(p),
    )
