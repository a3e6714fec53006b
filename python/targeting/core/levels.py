"""The levels of a text feature: how many get a column of their own, and in which order.

``uplift`` and ``segment`` one-hot their text features the same way: levels ranked by count
(most frequent first, ties by name, so the order never depends on the rows' order), at most
:data:`MAX_LEVELS` columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Most levels of a text feature with a column of their own (the reference, or ``(other)``,
#: included).
MAX_LEVELS = 20


def ranked_levels(values: np.ndarray) -> pd.Series:
    """Return each level's count, most frequent first, ties by name."""
    counts = pd.Series(values).value_counts()
    return counts.sort_index().sort_values(ascending=False, kind="stable")
