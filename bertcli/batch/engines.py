"""Engines: run a task over records with one model per worker, yielding one row per record.

`local`: a process pool (spawned workers: forking after ONNX Runtime or torch started threads
is unsafe) whose initializer loads the model once per worker; batches are submitted a few at
a time, so memory stays bounded whatever the corpus size.

`ray`: Ray Data. The records become a dataset, `map_batches` runs an actor class (the model
loads once per actor) on an actor pool of `workers`, and the rows stream back to this process,
which writes them (the same writer, shards and manifest as `local`). `address` joins a
running cluster; without it a local one is started with `workers` CPUs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from ..errors import ModelError, UsageError
from .corpus import Record

ENGINES = ("local", "ray")
DEFAULT_BATCH = 8  # documents per task sent to a worker
BLOB = "vectors"  # the binary field of a row (index embeddings): kept out of JSON on Ray


def default_workers() -> int:
    """One worker per core (each holds one model: ~350 MB with the bundled encoder)."""
    return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")


def batched(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def run(engine: str, task: Any, records: Iterable[Record], workers: int | None,
        on_notice: Callable[[str], None], address: str | None = None,
        batch_size: int = DEFAULT_BATCH) -> Iterator[dict[str, Any]]:
    """Rows of `task` over `records`; `workers` None: one per core (Ray: per cluster CPU)."""
    check_workers(workers)
    if engine == "local":
        return run_local(task, records, workers or default_workers(), on_notice, batch_size)
    if engine == "ray":
        return run_ray(task, records, workers, on_notice, address, batch_size)
    raise UsageError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")


def _once(on_notice: Callable[[str], None]) -> Callable[[list[str]], None]:
    """Each distinct notice once, though every worker says it."""
    said: set[str] = set()

    def say(messages: list[str]) -> None:
        for message in messages:
            if message not in said:
                said.add(message)
                on_notice(message)

    return say


# --- local: a process pool ---------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_local(task: Any, threads: int) -> None:
    import signal

    from .tasks import limit_threads

    # Ctrl-C is the main process's to handle (it stops the pool): no traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    limit_threads(threads)
    notices: list[str] = []
    try:
        _worker["model"] = task.load(notices)
    except Exception as err:  # reported with the first batch: exit 4, not a broken pool
        from .tasks import error_text

        _worker["fatal"] = error_text(err)
    _worker["task"], _worker["notices"] = task, notices


def _exit_with_parent() -> None:
    """A worker whose driver was killed (SIGKILL, OOM) would wait on its queue forever, holding
    a model: it exits once it is orphaned (its parent process changed)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="bertcli-parent-watch").start()


def _run_local(records: list[Record]) -> tuple[str | None, list[str], list[dict[str, Any]]]:
    notices, _worker["notices"] = _worker["notices"], []
    if "fatal" in _worker:
        return _worker["fatal"], notices, []
    rows = _worker["task"].run(_worker["model"], records)
    notices += _worker["notices"]
    _worker["notices"] = []
    return None, notices, rows


def run_local(task: Any, records: Iterable[Record], workers: int,
              on_notice: Callable[[str], None], batch_size: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..ordered import in_order

    say = _once(on_notice)
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_local, initargs=(task, threads))
    chunks = ((chunk,) for chunk in batched(records, batch_size))
    try:
        # 2 chunks a worker in flight: enough queued to keep every worker busy
        for fatal, notices, rows in in_order(_run_local, chunks, 2 * workers, pool):
            say(notices)
            if fatal is not None:
                raise ModelError(fatal)
            yield from rows
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- ray: Ray Data, map_batches on an actor pool -------------------------------------------


class RayWorker:
    """The actor class of `map_batches`: the model loads once per actor. Rows go back as JSON
    text (nested sentences and nulls need no Arrow schema), binary fields as bytes."""

    def __init__(self, task: Any) -> None:
        from .tasks import error_text, limit_threads

        limit_threads(1)  # one CPU per actor (num_cpus=1)
        self.task = task
        self.notices: list[str] = []
        self.fatal: str | None = None
        try:
            self.model = task.load(self.notices)
        except Exception as err:
            self.fatal = error_text(err)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        records = [Record(**json.loads(item)) for item in batch["record"]]
        notices, self.notices[:] = list(self.notices), []
        if self.fatal is not None:
            return {"row": [json.dumps({"fatal": self.fatal, "notices": notices})] * len(records),
                    BLOB: [b""] * len(records)}
        rows = self.task.run(self.model, records)
        notices += self.notices
        self.notices[:] = []
        out: dict[str, list] = {"row": [], BLOB: []}
        for n, row in enumerate(rows):
            blob = row.pop(BLOB, b"")
            out["row"].append(json.dumps({"row": row, "notices": notices if n == 0 else []},
                                         ensure_ascii=False))
            out[BLOB].append(blob)
        return out


def start_ray(workers: int | None, address: str | None) -> bool:
    """Connect to `address`, or start a local cluster of `workers` CPUs. Returns whether this
    process started it (and so shuts it down)."""
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'bertcli[ray]'") from None
    if ray.is_initialized():
        return False
    import logging

    # Ray's progress and plan lines are not bertcli's notices (--verbose shows the warnings).
    logging.getLogger("ray").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or default_workers(), **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise UsageError(f"--address {address}: cannot join the Ray cluster ({err})") from None
    import ray.data

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


def run_ray(task: Any, records: Iterable[Record], workers: int | None, on_notice: Callable[[str], None],
            address: str | None, batch_size: int) -> Iterator[dict[str, Any]]:
    # Records travel as JSON text: a column of nulls would come back as NaN, not None.
    items = [{"record": json.dumps({"id": r.id, "text": r.text, "error": r.error, "format": r.format},
                                   ensure_ascii=False)} for r in records]
    if not items:
        return
    started = start_ray(workers, address)
    try:
        import ray

        say = _once(on_notice)
        if workers is None:  # one actor per CPU of the cluster
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // batch_size,
                                                                             workers * 8)))
        del items
        rows = dataset.map_batches(RayWorker, fn_constructor_kwargs={"task": task},
                                   batch_size=batch_size, num_cpus=1, batch_format="numpy",
                                   compute=ray.data.ActorPoolStrategy(size=workers))
        for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
            for text, blob in zip(batch["row"], batch[BLOB]):
                envelope = json.loads(text)
                say(envelope.get("notices", []))
                if "fatal" in envelope:
                    raise ModelError(envelope["fatal"])
                row = envelope["row"]
                if blob:
                    row[BLOB] = bytes(blob)
                yield row
    finally:
        if started:
            import ray

            ray.shutdown()
