"""Writing tables to CSV or Parquet (streamed or whole) and the ground truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from targeting.data.synth.clients import Clients
from targeting.data.synth.config import DATA_DAYS, EPOCH_START, LABEL_WINDOW_DAYS, SynthConfig


class TableSink:
    """Write a table in chunks as CSV (the real layout) or Parquet."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append a chunk; the first chunk fixes the schema."""
        if self._writer is None:
            if self.fmt == "csv":
                # pyarrow's "needed" quotes every string; the real export quotes nothing in
                # the streamed files (no value holds a comma), so write them bare.
                options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
                self._writer = pacsv.CSVWriter(str(self.path), table.schema, write_options=options)
            else:
                self._writer = pq.ParquetWriter(str(self.path), table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.close()


def chunks(n: int, size: int) -> Iterator[range]:
    """Consecutive ranges of at most ``size`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def write_whole(table: pa.Table, path: Path, fmt: str) -> None:
    """Write a table that fits in memory; CSV quotes only values that need it, like the export."""
    if fmt == "parquet":
        pq.write_table(table, str(path), compression="zstd")
        return
    con = duckdb.connect()
    con.register("frame", table)
    con.execute("copy (select * from frame) to ? (header, delimiter ',')", [str(path)])
    con.close()


def write_truth(
    cfg: SynthConfig, clients: Clients, p_true: np.ndarray, label: np.ndarray, folder: Path
) -> None:
    """Write the ground truth (true effects, client traits and probabilities) for tests."""
    from sklearn.metrics import roc_auc_score

    buyers = clients.is_buyer
    truth = pd.DataFrame(
        {
            "client_id": clients.client_id,
            "is_buyer": buyers,
            "p_true_90d": p_true,
            "label": label,
            "propensity": clients.propensity,
            "engagement": clients.engagement,
            "push_preference": clients.push_preference,
            "price_level": clients.price_level,
            "acquired_on": pd.Timestamp(str(EPOCH_START))
            + pd.to_timedelta(np.where(buyers, clients.acquired_day, 0), unit="D"),
        }
    )
    truth.loc[~buyers, "acquired_on"] = pd.NaT
    truth.to_parquet(folder / "clients.parquet", index=False)
    y, p = label[buyers], p_true[buyers]
    oracle_auc = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")
    eff = {k: float(getattr(cfg.effects, k)) for k in cfg.effects.__dataclass_fields__}
    summary = {
        "seed": cfg.seed,
        "scale": cfg.scale,
        "effects": eff,
        "label_cutoff": str(EPOCH_START + np.timedelta64(DATA_DAYS + 1, "D")),
        "label_window_days": LABEL_WINDOW_DAYS,
        "label_rate": float(y.mean()),
        "expected_label_rate": float(p.mean()),
        "oracle_auc": oracle_auc,
    }
    (folder / "effects.json").write_text(json.dumps(summary, indent=2) + "\n")
