"""Compatibility fixes for pinned third-party versions, applied before Bambi is used."""

from __future__ import annotations

from typing import Any


def patch_formulae_lazycall_eq() -> None:
    """Let formulae compare a nested call with a plain variable.

    formulae 0.6.2's ``LazyCall.__eq__`` reads ``other.callee`` without checking the type,
    so a formula holding both ``scale(log1p(a))`` and ``scale(b)`` raises
    ``AttributeError: 'LazyVariable' object has no attribute 'callee'`` while deduplicating
    terms. Its sibling classes (``LazyVariable``, ``LazyValue``, ``LazyOperator``) check the
    type first; this gives ``LazyCall`` the same behaviour. Idempotent.
    """
    from formulae.terms.call_resolver import LazyCall

    if getattr(LazyCall.__eq__, "_marketing_mart_patched", False):
        return

    def __eq__(self: LazyCall, other: Any) -> bool:  # noqa: N807
        return (
            isinstance(other, LazyCall)
            and self.callee == other.callee
            and self.args == other.args
            and self.kwargs == other.kwargs
        )

    __eq__._marketing_mart_patched = True  # type: ignore[attr-defined]
    LazyCall.__eq__ = __eq__
    LazyCall.__hash__ = lambda self: hash((self.callee, *self.args, *self.kwargs))


def patch_bambi_hsgp_domain() -> None:
    """Compute an ``hsgp(x, c=...)`` term's domain on the scale its basis is evaluated on.

    Bambi 0.17.2 scales an HSGP predictor (centred, divided by its largest pairwise distance)
    before evaluating the basis, but computes ``L = c * max|x - mean|`` on the unscaled values.
    For a column spanning 20 units the domain is then twenty times too wide for the scaled
    data, every basis function is nearly flat over it, and the sampler compensates with huge
    weights (measured on 2k rows, a U-shaped effect: 3.4x slower sampling and a worse held-out
    log loss than with the domain computed on the scaled values). This computes ``L`` on the
    values the basis sees. Idempotent.
    """
    import numpy as np
    from bambi.terms.hsgp import HSGPTerm

    current = HSGPTerm.L
    if getattr(current.fget, "_marketing_mart_patched", False):
        return
    original = current.fget

    def domain(self: Any) -> Any:
        if self.c is None or not self.scale_predictors:
            return original(self)
        if self.by_levels is None:
            half_range = np.max(np.abs(self.data - self.mean), axis=0)
        else:
            half_range = np.zeros_like(self.c, dtype="float")
            for i in range(len(self.by_levels)):
                half_range[i] = np.max(np.abs(self.data_centered[self.by == i]), axis=0)
        return half_range / self.maximum_distance * self.c

    domain._marketing_mart_patched = True  # type: ignore[attr-defined]
    HSGPTerm.L = property(domain)
