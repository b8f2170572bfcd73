"""Questions answered side by side, results in question order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def in_order(work: Callable[..., T], items: Iterable[tuple[Any, ...]], at_once: int) -> Iterator[T]:
    """`work(*item)` for each item, up to `at_once` of them running on threads while the next
    items are drawn (drawing stays on this thread); results in input order, each as soon as
    it and those before it are done. A worker's error is raised here, in its place."""
    if at_once <= 1:
        for item in items:
            yield work(*item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(at_once, thread_name_prefix="bertcli-ask") as pool:
        running: deque = deque()
        try:
            for item in items:
                running.append(pool.submit(work, *item))
                while running and (running[0].done() or len(running) >= at_once):
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:  # a consumer that stops early: what has not started is not started
            for future in running:
                future.cancel()
