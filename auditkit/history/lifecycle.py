"""A finding's life from one snapshot to the next: new, open, resolved, reopened.

``step`` is pure: the state after some snapshots and one more snapshot's findings give the next
state and what that snapshot changed. ``history.timeline`` folds it over every snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER_SEEN, OPEN, RESOLVED = 0, 1, 2


@dataclass(frozen=True)
class State:
    """Every finding's lifecycle after some snapshots; one array entry per finding identity."""

    state: np.ndarray  # int8: NEVER_SEEN, OPEN or RESOLVED
    first_seen: np.ndarray  # index of the first snapshot showing it, -1 before
    last_seen: np.ndarray  # index of the last snapshot showing it, -1 before
    resolved_at: np.ndarray  # index of the snapshot that resolved it, -1 while not resolved
    reopened: np.ndarray  # how many times it came back after being resolved


@dataclass(frozen=True)
class Changes:
    """What one snapshot changed, per finding."""

    new: np.ndarray  # seen for the first time
    reopened: np.ndarray  # seen again after being resolved
    resolved: np.ndarray  # open, absent, and its NSG was read: fixed
    carried: np.ndarray  # open, absent, and not read: still open as far as anyone knows


def initial(n: int) -> State:
    """The state of ``n`` findings before any snapshot."""
    return State(state=np.zeros(n, dtype=np.int8), first_seen=np.full(n, -1, dtype=np.int64),
                 last_seen=np.full(n, -1, dtype=np.int64), resolved_at=np.full(n, -1, dtype=np.int64),
                 reopened=np.zeros(n, dtype=np.int64))


def step(prev: State, index: int, present: np.ndarray, observed: np.ndarray) -> tuple[State, Changes]:
    """The state after snapshot ``index``, which shows the findings in ``present`` and could read
    those in ``observed`` (both boolean per finding); ``prev`` is not modified."""
    new = present & (prev.state == NEVER_SEEN)
    again = present & (prev.state == RESOLVED)
    resolve = ~present & observed & (prev.state == OPEN)
    state = prev.state.copy()
    state[present] = OPEN
    state[resolve] = RESOLVED
    first_seen = np.where(new, index, prev.first_seen)
    last_seen = np.where(present, index, prev.last_seen)
    resolved_at = np.where(again, -1, np.where(resolve, index, prev.resolved_at))
    nxt = State(state=state, first_seen=first_seen, last_seen=last_seen, resolved_at=resolved_at,
                reopened=prev.reopened + again)
    return nxt, Changes(new=new, reopened=again, resolved=resolve, carried=(state == OPEN) & ~present)
