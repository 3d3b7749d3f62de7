"""Comparing what AWS answers with what a recipe gave it."""
from __future__ import annotations


def subset_differs(have, want) -> bool:
    """True when ``have`` does not hold ``want`` (dict keys of ``want`` only; lists elementwise):
    AWS answers with more fields than were given."""
    if isinstance(want, dict):
        return not isinstance(have, dict) or any(subset_differs(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (not isinstance(have, list) or len(have) != len(want)
                or any(subset_differs(h, w) for h, w in zip(have, want)))
    return have != want
