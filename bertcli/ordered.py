"""Work on a pool, results in input order: `ask`'s questions side by side (threads) and
`batch`'s chunks on worker processes go through `in_order`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def in_order(work: Callable[..., T], items: Iterable[tuple[Any, ...]], at_once: int,
             pool: Any = None) -> Iterator[T]:
    """`work(*item)` for each item, up to `at_once` of them submitted while the next items
    are drawn (drawing stays on this thread); results in input order, each as soon as it and
    those before it are done. A worker's error is raised here, in its place; a consumer that
    stops early leaves the rest undrawn. `pool`: an executor to submit to (its owner shuts it
    down); by default `at_once` threads of its own, or none when `at_once` is 1."""
    if pool is not None:
        yield from _submitted(pool, work, items, at_once)
        return
    if at_once <= 1:
        for item in items:
            yield work(*item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(at_once, thread_name_prefix="bertcli-ask") as own:
        yield from _submitted(own, work, items, at_once)


def _submitted(pool: Any, work: Callable[..., T], items: Iterable[tuple[Any, ...]],
               at_once: int) -> Iterator[T]:
    running: deque = deque()
    try:
        for item in items:
            running.append(pool.submit(work, *item))
            while running and (running[0].done() or len(running) >= at_once):
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
    finally:  # stopped early or failed: what has not started is not started
        for future in running:
            future.cancel()
