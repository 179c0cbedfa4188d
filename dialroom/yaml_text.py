"""YAML read as data, by libyaml where PyYAML was built with it.

PyYAML's `safe_load` parses in Python: ~1.8 ms for the demo persona on an idle box, and a
call reads persona files as it starts (its own, and every persona's numbers for an inbound
route), so under load the parse sat on the call's event loop before the greeting. libyaml's
`CSafeLoader` builds the same plain types (no tags, no objects) about 9x faster; PyYAML without
libyaml falls back to its own safe loader. Errors are `yaml.YAMLError` either way, with the
line in `problem_mark`.
"""

from __future__ import annotations

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> object:
    """The data in `text`: mappings, lists, strings, numbers, booleans, null."""
    return yaml.load(text, Loader=SafeLoader)  # a safe loader, C or Python
