"""What every ``targeting`` command shares: the options declared once, argument types, threads."""

from __future__ import annotations

import argparse
import os

#: One thread per numerical call: samplers run one chain per core, and BLAS or XLA thread
#: pools inside each chain would fight over the same cores (measured: a 4-chain nutpie fit
#: on 2 cores took 328 s with default thread pools and 93 s with these). A value the user
#: sets wins.
SINGLE_THREADED = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def single_threaded_numerics() -> None:
    """Set the thread-pool variables before numpy, PyTensor or JAX are imported."""
    for key, value in SINGLE_THREADED.items():
        os.environ.setdefault(key, value)


def add_db(parser: argparse.ArgumentParser, help: str = "warehouse file") -> None:
    """Add ``--db``: the warehouse file, by default ``$MM_DUCKDB_PATH`` or data/warehouse.duckdb."""
    from targeting.core.settings import default_db

    parser.add_argument("--db", default=str(default_db()), help=f"{help} (default: {default_db()})")


def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress output") -> None:
    """Add ``--quiet``."""
    parser.add_argument("--quiet", action="store_true", help=help)


def add_allow_failed(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--allow-failed-diagnostics``: go on with a fit that failed its diagnostics."""
    parser.add_argument("--allow-failed-diagnostics", action="store_true", help=help)


def add_no_write(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--no-write``: print the results only."""
    parser.add_argument("--no-write", action="store_true", help=help)


def positive_int(text: str) -> int:
    """Argparse type: a whole number >= 2 (a fold count, a cluster count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {value}")
    return value


def seed(text: str) -> int:
    """Argparse type: a seed in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole-number seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {value}")
    return value


def add_sampler_overrides(parser: argparse.ArgumentParser) -> None:
    """Add the options that override a spec's sampler settings."""
    from targeting.core.specs import INFERENCE_METHODS, MASS_MATRICES, NUTPIE_BACKENDS, PRECISIONS

    parser.add_argument("--method", choices=INFERENCE_METHODS, help="override the spec's inference method")
    parser.add_argument("--draws", type=int, help="override sampler.draws")
    parser.add_argument("--tune", type=int, help="override sampler.tune")
    parser.add_argument("--chains", type=int, help="override sampler.chains")
    parser.add_argument("--seed", type=int, help="override sampler.seed")
    parser.add_argument("--target-accept", type=float, help="override sampler.target_accept")
    parser.add_argument("--backend", choices=NUTPIE_BACKENDS, help="override sampler.backend (nutpie)")
    parser.add_argument("--mass-matrix", choices=MASS_MATRICES, help="override sampler.mass_matrix (nutpie)")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="override sampler.precision (PyTensor floatX)"
    )


def overrides(args: argparse.Namespace) -> dict[str, object]:
    """Return the sampler settings given on the command line (every Sampler field has an option)."""
    from targeting.core.specs import Sampler

    return {k: getattr(args, k) for k in Sampler.__dataclass_fields__ if getattr(args, k) is not None}
