"""Reading a spec file safely: bounded, UTF-8, strict YAML (every spec kind goes through here).

A spec is a short YAML mapping an analyst edits. Before any key is looked at, the file is
held to what such a file can be:

- a regular file (a symlink is followed; a device, FIFO or folder is refused) of at most
  :data:`MAX_SPEC_BYTES` bytes, read with a bounded read (an endless file cannot exhaust memory);
- UTF-8 text (the refusal names the byte offset);
- YAML with no duplicate key in any mapping (YAML's "last wins" would silently drop a line);
- at most :data:`MAX_ALIASES` alias uses and :data:`MAX_NODES` nodes once aliases are
  expanded (a "billion laughs" alias bomb is refused before it is built).

Every message names the file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

#: Largest spec file read, in bytes.
MAX_SPEC_BYTES = 1 << 20
#: Most alias uses (``*name``) a spec may hold.
MAX_ALIASES = 64
#: Most YAML nodes a spec may expand to, aliases expanded.
MAX_NODES = 20_000


class SpecFileError(ValueError):
    """A spec file cannot be read as a spec (missing, too large, not UTF-8, bad YAML)."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a mapping holding the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: PyYAML refuses it below with its own message
                continue
            if first != line:
                raise SpecFileError(f"key {key!r} appears twice (lines {first} and {line}); keep one")
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    """Nodes under ``node`` with every alias expanded, computed once per shared node."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = limit + 1  # a node reached again while being sized is a recursive alias
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, limit)
        if total > limit:
            break
    memo[id(node)] = total
    return total


def read_spec_text(path: str | Path, what: str) -> tuple[Path, str]:
    """Read a spec file's text: it exists, is a regular file of bounded size, and is UTF-8.

    Parameters
    ----------
    path
        The file, taken literally (no pattern expansion).
    what
        What the file is, for messages (``spec``, ``uplift spec``, ...).

    Raises
    ------
    SpecFileError
        Naming the file and what was expected.

    """
    p = Path(path)
    if not p.exists():
        raise SpecFileError(f"{what} file {p} does not exist")
    if not p.is_file():
        raise SpecFileError(f"{what} file {p} is not a regular file (a folder, device or pipe)")
    with p.open("rb") as fh:
        data = fh.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecFileError(f"{p}: larger than {MAX_SPEC_BYTES:,} bytes; a {what} is a short YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecFileError(
            f"{p}: not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r}); "
            "save the file as UTF-8"
        ) from None
    return p, text


def parse_spec_yaml(text: str, where: str) -> Any:
    """Parse a spec's YAML strictly (no duplicate keys, bounded aliases); messages start with ``where``."""
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_StrictLoader))
        if aliases > MAX_ALIASES:
            raise SpecFileError(f"{aliases} alias uses (*name); a spec may hold at most {MAX_ALIASES}")
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node, {}, MAX_NODES) > MAX_NODES:
                raise SpecFileError(
                    f"expands to more than {MAX_NODES:,} values once its aliases are followed "
                    "(nested or recursive aliases)"
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except SpecFileError as exc:
        raise SpecFileError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise SpecFileError(f"{where}: not valid YAML: {detail}") from None
    except RecursionError:
        raise SpecFileError(f"{where}: nested too deeply to be a spec") from None


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
