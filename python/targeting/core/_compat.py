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
