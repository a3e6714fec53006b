"""Generator settings, the true effect sizes and the real dataset's sizes and dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DAY_SECONDS = 86_400
EPOCH_START = np.datetime64("2022-05-16")  # first purchase date of the real data
DATA_DAYS = 641  # 2022-05-16 .. 2024-02-16 inclusive is 642 dates; day 641 is the last
MESSAGE_FIRST_DAY = 3  # 2022-05-19
MESSAGE_LAST_DAY = 640  # 2024-02-15
LABEL_WINDOW_DAYS = 90
REAL_BUYERS = 49_849
REAL_MESSAGE_ONLY_CLIENTS = 11_347  # 53,329 messaged clients minus 41,982 messaged buyers
REAL_CAMPAIGNS = 2_709
REAL_SENDS = 9_058_196
DAILY_ROW_CAP = 131_072  # the real daily exports stop at 2**17 rows
FIRST_CLIENT_ID = 1_515_915_625_468_060_902


@dataclass(frozen=True)
class TrueEffects:
    """The generator's true parameters, written to ``ground_truth/effects.json``."""

    rate_intercept: float = -3.85  # log daily purchase rate of an average client at acquisition
    rate_propensity: float = 0.85  # per standard deviation of propensity
    interest_half_life_days: float = 15.0 * np.log(2)  # decay of post-acquisition interest
    interest_floor: float = 0.0045  # long-run share of the initial rate
    engagement_propensity_corr: float = 0.75
    open_intercept: float = -0.75
    open_engagement: float = 1.2
    click_intercept: float = -1.75
    click_engagement: float = 1.0
    uplift_base: float = 0.01  # purchase probability added by an A/B treatment message ...
    uplift_engagement_max: float = 0.08  # ... plus this times sigmoid(1.5 u - 0.5)
    uplift_window_days: int = 14
    ab_control_share: float = 0.2

    @property
    def interest_tau_days(self) -> float:
        """Time constant of the interest decay, in days."""
        return float(self.interest_half_life_days / np.log(2))


@dataclass
class SynthConfig:
    """What to generate.

    Parameters
    ----------
    scale
        1.0 reproduces the real dataset's sizes; 0.02 gives about 1,000 clients.
    seed
        Seed of every random draw: the same seed gives byte-identical files.
    out
        Output folder; created if missing.
    fmt
        ``csv`` (the public dataset's format) or ``parquet``.
    ab_test
        Also write ``campaign_assignments`` for a few randomised holdout campaigns.
    ab_campaigns
        How many holdout campaigns; ``None``: ``max(2, round(6 * sqrt(min(scale, 1))))``.

    """

    scale: float = 0.02
    seed: int = 42
    out: Path = Path("data/raw")
    fmt: str = "csv"
    ab_test: bool = True
    ab_campaigns: int | None = None
    effects: TrueEffects = field(default_factory=TrueEffects)

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 20:
            raise ValueError(f"--scale must be in (0, 20], got {self.scale}")
        if self.ab_campaigns is not None and not 1 <= self.ab_campaigns <= 200:
            raise ValueError(f"--ab-campaigns must be in [1, 200], got {self.ab_campaigns}")
        if self.fmt not in ("csv", "parquet"):
            raise ValueError(f"--format must be csv or parquet, got {self.fmt!r}")
