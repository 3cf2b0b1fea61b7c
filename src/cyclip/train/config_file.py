"""Reading a ``TrainConfig`` from a YAML or TOML file (and from plain nested dicts).

The file has one section per config group, with the dataclass field names as keys::

    model: {name: cyclip-small}
    loss: {name: cyclip, lambda_inmodal: 0.25}
    optim: {lr: 1.0e-3, epochs: 5}

Unknown keys are rejected with the closest valid key; values are converted to the field's
type (so YAML's ``1e-3``, which PyYAML reads as a string, is a float here) or rejected with the
key, the value and the expected type. Renamed keys (:data:`DEPRECATED_KEYS`) still work, with a
:class:`DeprecatedKeyWarning`.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

from cyclip.train.config import TrainConfig


class ConfigError(ValueError):
    """A configuration file or value the user must fix; the message says how."""


class DeprecatedKeyWarning(FutureWarning):
    """A renamed config key or flag was used; the message names the new one."""


DEPRECATED_KEYS = {"loss.method": "loss.cyclic_impl"}
"""Old dotted key -> its new name; both config files and flags accept the old one, with a warning."""


def warn_deprecated(old: str, new: str, source: str | None = None) -> None:
    """One line: ``[SOURCE: ]'old' is deprecated; use 'new'``."""
    where = f"{source}: " if source else ""
    warnings.warn(f"{where}'{old}' is deprecated; use '{new}'", DeprecatedKeyWarning, stacklevel=3)


def _renamed(data: Mapping[str, Any], prefix: str, source: str) -> dict[str, Any]:
    """``data`` with deprecated keys of this section replaced by their new names."""
    out = dict(data)
    for old, new in DEPRECATED_KEYS.items():
        old_section, _, old_leaf = old.rpartition(".")
        new_section, _, new_leaf = new.rpartition(".")
        if f"{old_section}." != prefix or old_leaf not in out or old_section != new_section:
            continue
        if new_leaf in out:
            raise ConfigError(f"{source}: give '{new}' or the deprecated '{old}', not both")
        warn_deprecated(old, new, source)
        out[new_leaf] = out.pop(old_leaf)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a ``.yaml`` / ``.yml`` / ``.toml`` file into nested dicts.

    Raises:
        ConfigError: missing file, unknown extension, syntax error or a non-mapping top level.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix in (".yaml", ".yml"):
            data = _bounded_yaml_load(text, path)
        elif suffix == ".toml":
            data = _toml_loads(text)
        else:
            raise ConfigError(
                f"config file {path} has extension '{suffix}'; use .yaml, .yml or .toml"
            )
    except ConfigError:
        raise
    except Exception as exc:  # yaml.YAMLError, tomllib.TOMLDecodeError
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise ConfigError(f"cannot parse config file {path}: {detail}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections (model, data, loss, optim, "
            f"run), got {type(data).__name__}"
        )
    return dict(data)


MAX_EXPANDED_NODES = 10_000
"""The most YAML nodes a config file may expand to, aliases counted as copies of what they name
(a full config has about 80). A "billion laughs" file of a few hundred bytes would expand to
billions: it is refused after parsing, before anything is built from it."""


def _bounded_yaml_load(text: str, path: Path) -> Any:
    """``yaml.safe_load(text)``, refusing documents whose aliases expand beyond
    :data:`MAX_EXPANDED_NODES` nodes or refer to themselves.

    Raises:
        ConfigError: an alias bomb or a recursive alias (named, with the size).
    """
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: Any, path: Path) -> None:
    """Count the nodes of ``root`` with every alias expanded (memoised: linear in the file)."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"config file {path}: a YAML alias refers to itself; remove it")
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node, path)
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                break
        active.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"config file {path}: its YAML aliases expand to more than "
                f"{MAX_EXPANDED_NODES:,} values (an alias bomb?); write the values out instead"
            )
        return total

    size(root)


def _refuse_duplicate_keys(node: Any, path: Path) -> None:
    """PyYAML keeps the last of two equal keys without a word; a config must say one thing."""
    seen: set[str] = set()
    for key, _ in node.value:
        name = getattr(key, "value", None)
        if not isinstance(name, str):
            continue
        if name in seen:
            raise ConfigError(
                f"config file {path}: key '{name}' appears twice in one section (line "
                f"{key.start_mark.line + 1}); keep one"
            )
        seen.add(name)


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` bounded in depth, items and length: safe to print for any parsed value."""
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxlevel, shortener.maxlist, shortener.maxdict = 2, 4, 4
    shortener.maxstring = shortener.maxother = limit
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ConfigError("reading TOML on Python 3.10 needs 'pip install tomli'") from exc
    return tomllib.loads(text)


def valid_keys(cls: Any = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted key a config file may set, e.g. ``optim.lr``."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(valid_keys(tp, f"{name}."))
        else:
            keys.append(name)
    return keys


def apply_mapping(
    base: Any, data: Mapping[str, Any], *, source: str = "config", prefix: str = ""
) -> Any:
    """Return ``base`` (a dataclass instance) with the values of ``data`` (nested dicts) set.

    Raises:
        ConfigError: an unknown key (with the closest valid one), a section given as a scalar,
            or a value that does not fit the field's type.
    """
    cls = type(base)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    changes = {}
    for key, value in _renamed(data, prefix, source).items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(_unknown_key_message(dotted, source))
        tp = hints[key]
        current = getattr(base, key)
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{source}: '{dotted}' is a section; give it as a mapping of keys "
                    f"({', '.join(f.name for f in dataclasses.fields(tp))}), got {short_repr(value)}"
                )
            changes[key] = apply_mapping(current, value, source=source, prefix=f"{dotted}.")
        else:
            changes[key] = coerce(value, tp, key=dotted, source=source)
    return dataclasses.replace(base, **changes)


def load_config(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: ``TrainConfig()``) updated with the contents of a YAML / TOML file."""
    return apply_mapping(base or TrainConfig(), read_config_file(path), source=str(path))


def _unknown_key_message(dotted: str, source: str) -> str:
    keys = valid_keys()
    close = difflib.get_close_matches(dotted, keys, n=1, cutoff=0.5)
    if not close:
        # a key put in the wrong section: match on the last component alone
        leaf = dotted.rsplit(".", 1)[-1]
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in keys}
        near = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)
        close = [by_leaf[near[0]]] if near else []
    hint = f"; did you mean '{close[0]}'?" if close else "; run 'cyclip train --help' for the keys"
    return f"{source}: unknown key '{dotted}'{hint}"


def coerce(value: Any, tp: Any, *, key: str, source: str = "config") -> Any:
    """Convert a parsed YAML / TOML value to the field type ``tp`` or raise :class:`ConfigError`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key=key, source=source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else _bad(value, tp, key, source))
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{source}: '{key}' must be one of {', '.join(map(repr, args))}, got "
            f"{short_repr(value)}"
        )
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(_bad(value, tp, key, source))
        item = args[0] if args else Any
        return tuple(coerce(v, item, key=key, source=source) for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise ConfigError(_bad(value, tp, key, source))
    if tp is int:
        return _to_int(value, key, source)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(_bad(value, tp, key, source))
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(_bad(value, tp, key, source)) from None
    if tp is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(_bad(value, tp, key, source))
    return value


def _to_int(value: Any, key: str, source: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(_bad(value, int, key, source))
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # "1e4" and 1e4 are ints written in scientific notation
    except (TypeError, ValueError):
        raise ConfigError(_bad(value, int, key, source)) from None
    if not number.is_integer():
        raise ConfigError(_bad(value, int, key, source))
    return int(number)


def _bad(value: Any, tp: Any, key: str, source: str) -> str:
    name = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
    return f"{source}: '{key}' expects {name}, got {short_repr(value)}"
