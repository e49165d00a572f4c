"""Material-grouped splitting: no material appears in two splits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def grouped_split(
    groups: Sequence[str] | np.ndarray,
    fractions: Mapping[str, float],
    seed: int = 0,
) -> np.ndarray:
    """Assign whole groups (materials) to named splits, meeting target row fractions.

    Groups are visited largest first (ties in seeded random order) and each goes to
    the split whose row count is furthest *below* its target, so every split ends
    within one group size of its target.

    Parameters
    ----------
    groups
        Group (material) id of each row.
    fractions
        Target share of rows per split name; normalised to sum to one.
    seed
        Seed of the tie-breaking shuffle.

    Returns
    -------
    numpy.ndarray
        Split name of each row.
    """
    groups = np.asarray(groups, dtype=str)
    names = list(fractions)
    weights = np.array([fractions[n] for n in names], dtype=float)
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("split fractions must be non-negative and not all zero")
    targets = weights / weights.sum() * len(groups)
    unique, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-sizes[order], kind="stable")]
    counts = np.zeros(len(names))
    assignment = np.empty(len(unique), dtype=int)
    for group in order:
        deficit = targets - counts
        chosen = int(np.argmax(deficit))
        assignment[group] = chosen
        counts[chosen] += sizes[group]
    return np.array(names, dtype=str)[assignment[inverse]]


def assign_from_lists(ids: Sequence[str] | np.ndarray, lists: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Split name of each id from published id lists; ``""`` for ids in none of them.

    Raises
    ------
    ValueError
        If an id is in two lists.
    """
    lookup: dict[str, str] = {}
    for name, members in lists.items():
        for member in members:
            if member in lookup and lookup[member] != name:
                raise ValueError(f"id {member} is in both the {lookup[member]} and {name} lists")
            lookup[member] = name
    return np.array([lookup.get(i, "") for i in ids], dtype=str)


def overlapping_groups(groups: Sequence[str] | np.ndarray, splits: Sequence[str] | np.ndarray) -> set[str]:
    """Groups that occur in more than one (non-empty) split; empty when the split is clean."""
    seen: dict[str, str] = {}
    bad: set[str] = set()
    for group, split in zip(np.asarray(groups), np.asarray(splits), strict=True):
        if not split:
            continue
        if seen.setdefault(str(group), str(split)) != split:
            bad.add(str(group))
    return bad
