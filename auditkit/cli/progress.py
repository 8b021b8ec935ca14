"""Progress bars on a terminal (tqdm) for collect and render; silent when stderr is not a TTY."""

from __future__ import annotations

import sys
from collections.abc import Callable


class CollectProgress:
    """A progress bar on a terminal (pages, rows, subscriptions); silent when stderr is not a TTY."""

    def __init__(self) -> None:
        self.bar = None
        self.rows = self.pages = self.failed = 0
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit=" subs", desc="collect", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, event: str, **info) -> None:
        if self.bar is None:
            return
        if event == "subscriptions":
            self.bar.reset(total=info["total"])
        elif event == "page":
            self.pages += 1
            self.rows += info["rows"]
        elif event == "batch":
            self.failed += info.get("failed", 0)
            self.bar.update(info["done"])
        self.bar.set_postfix(pages=self.pages, rows=self.rows, failed=self.failed, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def render_progress() -> tuple[Callable | None, Callable[[], None]]:
    """A progress bar on a terminal: reports done, failed, time left (tqdm's ETA); silent otherwise.
    Returns the callback for ``render(progress=)`` (None when silent) and the function that closes the bar."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=None, unit=" reports", desc="render", file=sys.stderr, dynamic_ncols=True)
    failed = [0]

    def update(outcome, done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
            bar.update(done)
        else:
            bar.update(1)
        failed[0] += not outcome.ok
        bar.set_postfix(failed=failed[0], refresh=True)

    return update, bar.close
