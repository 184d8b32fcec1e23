"""Reading the YAML files Patron takes (sync configs, segments, ``patron apply`` documents).

PyYAML reads YAML 1.1, where ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` are booleans, so
``match: {column: user_id, on: id}`` would hold the key ``True``. Used as keys, those words mean
the words here; as values they keep YAML's meaning. ``${VAR}`` in a string is replaced by the
environment variable, so that secrets stay out of the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

_BOOL_TAG = "tag:yaml.org,2002:bool"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class YamlError(ValueError):
    """A file that is not valid YAML, or names an environment variable that is not set."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mapping keys written as plain YAML 1.1 booleans stay strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        for key_node, _ in node.value:
            if (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.tag == _BOOL_TAG
                and key_node.style is None
            ):
                key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse one YAML document, keys like ``on:`` kept as words."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)) from exc


def expand_env(value: Any, where: str, environ: Mapping[str, str] | None = None) -> Any:
    """Replace every ``${VAR}`` in the strings of ``value`` (recursively) from the environment."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def replace(found: re.Match[str]) -> str:
            name = found.group(1)
            if name not in env:
                raise YamlError(f"{where}: environment variable {name} is not set")
            return env[name]

        return _VARIABLE.sub(replace, value)
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    return value
