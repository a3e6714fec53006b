"""The columns the domain vocabulary derives, written into the models' YAML.

``vars.vocabulary`` in ``dbt_project.yml`` is the one definition of the counted and flag
message events, the channels and the windows. The SQL models loop over it, so adding an event
type adds its columns with no SQL edit; but dbt reads column lists (the enforced contract of
``customer_features``, every model's column docs) from YAML, which cannot loop. This module
derives the same columns by the same rules and rewrites the marked regions of those YAML files,
and a docs file with a meaning for every derived column that has no hand-written one::

    targeting vocabulary sync          # rewrite the regions after editing the vocabulary
    targeting vocabulary sync --check  # fail if a region is out of date (CI, tests)

A build whose vocabulary derives a column the contract does not list fails in
``customer_features`` with a message naming the column and this command. The rules here and
the Jinja in the models are checked against each other by every ``dbt build`` of the test
suite (the contract is enforced) and by ``test_vocabulary.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: names become column names and raw values are compared as text: lowercase words only
#: (the vocabulary() macro applies the same pattern)
WORD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: windows the mart's hand-written features read (recency trends, 365-day shares)
REQUIRED_WINDOWS = (90, 365)

BEGIN = "# >>> columns from var vocabulary, written by `targeting vocabulary sync`: do not edit"
END = "# <<< columns from var vocabulary"

#: (YAML file, model) of every region the sync rewrites, relative to the project
REGIONS: tuple[tuple[str, str], ...] = (
    ("models/intermediate/_intermediate__models.yml", "int_client_engagement_accumulated"),
    ("models/intermediate/_intermediate__models.yml", "int_client_engagement_windowed"),
    ("models/marts/customer_features.yml", "customer_features"),
    ("models/marts/campaign_holdout_features.yml", "campaign_holdout_features"),
)
#: the hand-written docs blocks, and the generated ones (meanings no hand-written block gives)
HAND_DOCS = "models/docs/columns.md"
GENERATED_DOCS = "models/docs/vocabulary_columns.md"

_RANGE = {
    "count": "{min_value: 0}",
    "amount": "{min_value: 0}",
    "rate": "{min_value: 0, max_value: 1}",
}


class VocabularyError(ValueError):
    """The vocabulary, or a file the sync rewrites, is not as expected (the message says how)."""


@dataclass(frozen=True)
class DerivedColumn:
    """A column the vocabulary derives in one model.

    Attributes
    ----------
    name : str
        The column name.
    meaning : str
        Its description, used when no hand-written docs block has the name.
    data_type : str or None
        The contract's type (``customer_features``), None where the model has no contract.
    kind : str or None
        ``count``, ``amount`` or ``rate``: the range test of a contracted column.

    """

    name: str
    meaning: str
    data_type: str | None = None
    kind: str | None = None


def read_vocabulary(project: Path) -> dict[str, Any]:
    """Return ``vars.vocabulary`` of ``project/dbt_project.yml``, checked.

    Raises
    ------
    VocabularyError
        When the file or the var is missing, or the vocabulary breaks a rule of the
        ``vocabulary()`` macro (the message names the key and the value).

    """
    path = project / "dbt_project.yml"
    if not path.is_file():
        raise VocabularyError(f"{path}: no dbt_project.yml there (expected the dbt project's folder)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path}: not valid YAML ({exc})") from exc
    vocab = (doc.get("vars") or {}).get("vocabulary") if isinstance(doc, dict) else None
    if vocab is None:
        raise VocabularyError(f"{path}: no vars.vocabulary (the domain vocabulary the models read)")
    check_vocabulary(vocab, where=f"{path}: var vocabulary")
    return dict(vocab)


def check_vocabulary(vocab: object, where: str = "var vocabulary") -> None:
    """Check a vocabulary as the ``vocabulary()`` macro does; raise VocabularyError if broken."""
    if not isinstance(vocab, dict):
        raise VocabularyError(f"{where} must be a mapping, got {vocab!r}")
    for key in ("counted_events", "flag_events", "channels"):
        part = vocab.get(key)
        if not isinstance(part, dict) or not part:
            raise VocabularyError(
                f"{where}.{key} must be a non-empty mapping of name: raw value, got {part!r}"
            )
        for name, raw in part.items():
            if not WORD.match(str(name)) or not WORD.match(str(raw)):
                raise VocabularyError(
                    f"{where}.{key} has {name}: {raw}; expected lowercase words (letters, digits, _)"
                )
    both = sorted(set(vocab["counted_events"]) & set(vocab["flag_events"]))
    if both:
        raise VocabularyError(
            f"{where}: {', '.join(map(str, both))} is both a counted and a flag event; name each once"
        )
    for key in ("engagement_windows", "order_windows"):
        days = vocab.get(key)
        if not isinstance(days, list) or not days:
            raise VocabularyError(f"{where}.{key} must be a list of whole days, got {days!r}")
        for i, d in enumerate(days):
            ok = isinstance(d, int | float) and not isinstance(d, bool) and math.isfinite(d)
            if not ok or d != int(d) or d < 1 or (i > 0 and d <= days[i - 1]):
                raise VocabularyError(f"{where}.{key} has {d}; expected whole days >= 1, ascending")
        for d in REQUIRED_WINDOWS:
            if d not in days:
                raise VocabularyError(
                    f"{where}.{key} lacks {d}; the mart's hand-written features read the "
                    f"{'/'.join(map(str, REQUIRED_WINDOWS))}-day windows"
                )


def _words(name: str) -> str:
    return name.replace("_", " ")


def derived_columns(vocab: dict[str, Any]) -> dict[str, list[DerivedColumn]]:
    """Return the columns ``vocab`` derives in each model of :data:`REGIONS`, in the models' order.

    The rules are the Jinja loops of the models; ``customer_features`` (and
    ``campaign_holdout_features``, which passes its columns through) get:

    - ``orders_<w>d``, ``revenue_<w>d`` for each order window;
    - ``<event>_<w>d`` and ``<event>_all`` (every channel) for each counted event and
      engagement window, and ``<event>_<channel>_90d`` for each channel;
    - ``open_rate_<w>d`` and ``click_rate_<w>d`` for each engagement window;
    - ``<flag>_all`` for each flag event.

    Raises
    ------
    VocabularyError
        When two rules derive the same column name.

    """
    counted = [str(n) for n in vocab["counted_events"]]
    flags = [str(n) for n in vocab["flag_events"]]
    channels = {str(k): _words(str(v)) for k, v in vocab["channels"].items()}
    windows = [int(d) for d in vocab["engagement_windows"]]
    order_windows = [int(d) for d in vocab["order_windows"]]

    accumulated = [
        DerivedColumn(
            f"cum_{e}_{c}", f"Running total of {_words(e)} by {label} up to and including event_date."
        )
        for e in counted
        for c, label in channels.items()
    ] + [
        DerivedColumn(f"cum_{f}", f"Running total of {_words(f)} up to and including event_date.")
        for f in flags
    ]

    windowed: list[DerivedColumn] = []
    for e in counted:
        for c, label in channels.items():
            for d in windows:
                windowed.append(
                    DerivedColumn(
                        f"{e}_{c}_{d}d",
                        f"{_words(e).capitalize()} by {label} in the {d} days before the cutoff.",
                    )
                )
            windowed.append(
                DerivedColumn(
                    f"{e}_{c}_all",
                    f"{_words(e).capitalize()} by {label} in all the history before the cutoff.",
                )
            )
    flag_columns = [DerivedColumn(f"{f}_all", f"{_words(f).capitalize()} before the cutoff.") for f in flags]
    windowed += flag_columns

    mart = [
        DerivedColumn(f"orders_{d}d", f"Orders in the {d} days before the cutoff.", "bigint", "count")
        for d in order_windows
    ] + [
        DerivedColumn(
            f"revenue_{d}d", f"Revenue of the orders in the {d} days before the cutoff.", "double", "amount"
        )
        for d in order_windows
    ]
    for e in counted:
        every = f"{_words(e).capitalize()} over every channel"
        mart += [
            DerivedColumn(f"{e}_{d}d", f"{every} in the {d} days before the cutoff.", "bigint", "count")
            for d in windows
        ]
        mart.append(
            DerivedColumn(f"{e}_all", f"{every} in all the history before the cutoff.", "bigint", "count")
        )
    for e in counted:
        mart += [
            DerivedColumn(
                f"{e}_{c}_90d",
                f"{_words(e).capitalize()} by {label} in the 90 days before the cutoff.",
                "bigint",
                "count",
            )
            for c, label in channels.items()
        ]
    for d in windows:
        for rate, num in (("open_rate", "opens"), ("click_rate", "clicks")):
            mart.append(
                DerivedColumn(
                    f"{rate}_{d}d",
                    f"{_words(rate).capitalize()} ({num} per send) in the {d} days before the cutoff, "
                    "beta-smoothed toward the population's rate at the same cutoff.",
                    "double",
                    "rate",
                )
            )
    mart += [DerivedColumn(c.name, c.meaning, "bigint", "count") for c in flag_columns]

    out = {
        "int_client_engagement_accumulated": accumulated,
        "int_client_engagement_windowed": windowed,
        "customer_features": mart,
        "campaign_holdout_features": [DerivedColumn(c.name, c.meaning) for c in mart],
    }
    for model, columns in out.items():
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise VocabularyError(
                    f"var vocabulary derives column {column.name} twice in {model}: "
                    "rename the event, flag or channel that makes it"
                )
            seen.add(column.name)
    return out


def _docs_blocks(text: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"{%\s*docs\s+(\w+)\s*%}(.*?){%\s*enddocs\s*%}", text, re.S)
    }


def _region_text(columns: list[DerivedColumn], indent: str) -> list[str]:
    lines: list[str] = []
    for c in columns:
        lines.append(f"{indent}- name: {c.name}")
        if c.data_type:
            lines.append(f"{indent}  data_type: {c.data_type}")
        lines.append(f"{indent}  description: '{{{{ doc(\"{c.name}\") }}}}'")
        if c.kind:
            lines += [
                f"{indent}  data_tests:",
                f"{indent}    - accepted_range:",
                f"{indent}        arguments: {_RANGE[c.kind]}",
            ]
    return lines


def _rewrite(path: Path, text: str, model: str, columns: list[DerivedColumn]) -> str:
    """``text`` with the region of ``model`` replaced by ``columns``."""
    lines = text.split("\n")
    current: str | None = None
    for i, line in enumerate(lines):
        found = re.match(r"^  - name: (\w+)\s*$", line)
        if found:
            current = found.group(1)
        if current == model and line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            for j in range(i + 1, len(lines)):
                if lines[j].strip() == END:
                    return "\n".join([*lines[: i + 1], *_region_text(columns, indent), *lines[j:]])
            raise VocabularyError(f"{path}: the region of {model} has no end line ({END!r})")
    raise VocabularyError(
        f"{path}: model {model} has no region to rewrite (a line {BEGIN!r} in its columns, then {END!r})"
    )


def sync(project: Path, check: bool = False) -> list[Path]:
    """Rewrite the vocabulary's regions and generated docs of ``project``; return the changed files.

    Parameters
    ----------
    project : Path
        The dbt project's folder (holds ``dbt_project.yml``).
    check : bool
        Write nothing; return the files a sync would change.

    Raises
    ------
    VocabularyError
        A broken vocabulary, or a file without its marked region.

    """
    vocab = read_vocabulary(project)
    try:
        derived = derived_columns(vocab)
    except VocabularyError as exc:
        raise VocabularyError(f"{project / 'dbt_project.yml'}: {exc}") from exc
    hand_path = project / HAND_DOCS
    if not hand_path.is_file():
        raise VocabularyError(f"{hand_path}: not found (the hand-written docs blocks)")
    hand = _docs_blocks(hand_path.read_text())
    generated: dict[str, str] = {}
    for columns in derived.values():
        for c in columns:
            if c.name not in hand:
                generated[c.name] = c.meaning
    docs = [
        "{# Written by `targeting vocabulary sync` from var vocabulary (dbt_project.yml): do not edit.",
        "   The meaning of every column the vocabulary derives that models/docs/columns.md does not",
        "   describe by hand. #}",
        "",
    ]
    for name in sorted(generated):
        docs += [f"{{% docs {name} %}}", generated[name], "{% enddocs %}", ""]
    wanted: dict[Path, str] = {project / GENERATED_DOCS: "\n".join(docs)}
    for rel, model in REGIONS:
        path = project / rel
        if path not in wanted:
            if not path.is_file():
                raise VocabularyError(f"{path}: not found (it documents {model})")
            wanted[path] = path.read_text()
        wanted[path] = _rewrite(path, wanted[path], model, derived[model])
    changed = [p for p, t in wanted.items() if not p.is_file() or p.read_text() != t]
    if not check:
        for path in changed:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(wanted[path])
            tmp.replace(path)
    return changed
