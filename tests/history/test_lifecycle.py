"""The per-snapshot step of a finding's lifecycle, called directly (no snapshot on disk)."""

from __future__ import annotations

import numpy as np

from auditkit.history import lifecycle
from auditkit.history.lifecycle import NEVER_SEEN, OPEN, RESOLVED


def _b(*values: int) -> np.ndarray:
    return np.array(values, dtype=bool)


def test_a_finding_seen_is_new_then_open() -> None:
    state, changes = lifecycle.step(lifecycle.initial(2), 0, _b(1, 0), _b(1, 1))
    assert state.state.tolist() == [OPEN, NEVER_SEEN]
    assert changes.new.tolist() == [True, False]
    assert state.first_seen.tolist() == [0, -1]
    assert state.last_seen.tolist() == [0, -1]


def test_absent_and_read_resolves_absent_and_unread_carries() -> None:
    state, _ = lifecycle.step(lifecycle.initial(2), 0, _b(1, 1), _b(1, 1))
    state, changes = lifecycle.step(state, 1, _b(0, 0), _b(1, 0))
    assert state.state.tolist() == [RESOLVED, OPEN]
    assert changes.resolved.tolist() == [True, False]
    assert changes.carried.tolist() == [False, True]
    assert state.resolved_at.tolist() == [1, -1]


def test_a_resolved_finding_that_comes_back_is_reopened() -> None:
    state = lifecycle.initial(1)
    for j, seen in enumerate((1, 0, 1)):
        state, changes = lifecycle.step(state, j, _b(seen), _b(1))
    assert changes.reopened.tolist() == [True]
    assert changes.new.tolist() == [False]
    assert state.state.tolist() == [OPEN]
    assert state.reopened.tolist() == [1]
    assert state.resolved_at.tolist() == [-1]
    assert state.first_seen.tolist() == [0]
    assert state.last_seen.tolist() == [2]


def test_the_step_leaves_the_previous_state_alone() -> None:
    before = lifecycle.initial(1)
    lifecycle.step(before, 0, _b(1), _b(1))
    assert before.state.tolist() == [NEVER_SEEN]
    assert before.first_seen.tolist() == [-1]
