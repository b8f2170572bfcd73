"""The one place that picks where a model runs: the device, and the backend fallback.

On CPU a model runs on ONNX Runtime (no torch in the process once its copy is prepared), in the
precision asked for; a copy that cannot load or run here falls back to the float32 copy, then to
torch, with one notice line each. On a GPU (or `--device cuda|mps`) it runs on torch. The
device is resolved without importing torch unless a GPU may be there.

ONNX sessions open on a thread (so that they load while the caller reads and splits its text):
`Loading.model` is usable at once for tokenizer work, and `Loading.ready()` waits for the
session and applies the fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

from ..errors import UsageError
from ..models import ResolvedModel

ENCODER, READER = "encoder", "reader"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    """A model's numerics on CPU: `fp32` (exact), `int8` (per token, faster), `auto` (per model)."""

    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"


DEVICES = tuple(d.value for d in Device)
PRECISIONS = tuple(p.value for p in Precision)


def gpu_present() -> bool:
    """An NVIDIA driver is loaded: `--device auto` then prefers torch on the GPU."""
    import os

    return os.path.exists("/proc/driver/nvidia/version")


def resolve_device(device: str) -> str:
    """Map --device auto|cpu|cuda|mps to the device models run on. `cpu`, and `auto` where no
    GPU driver is loaded, never import torch."""
    if device not in DEVICES:
        raise UsageError(f"--device {device}: choose auto, cpu, cuda or mps")
    if device == "cpu" or (device == "auto" and not gpu_present()):
        return "cpu"
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError("--device mps: MPS is not available (use --device cpu or auto)")
    return device


def _steps(device: str, precision: str) -> Iterator[tuple[str, str]]:
    """(backend, precision) in the order they are tried."""
    if device == "cpu":
        yield "onnx", precision
        if precision != "fp32":
            yield "onnx", "fp32"
    yield "torch", "fp32"


class Loading:
    """A model on its way: `model` now (tokenizer ready, session perhaps still opening),
    `ready()` once it must run."""

    def __init__(self, kind: str, resolved: ResolvedModel, device: str, precision: str,
                 notice: Callable[[str], None], shared: bool = True):
        self.kind, self.resolved, self.device, self.notice = kind, resolved, device, notice
        self.shared = shared
        self._steps = _steps(device, precision)
        self._proven = False
        self._no_copy = False
        self.model: Any = None
        self._next()

    def _next(self) -> None:
        from . import onnx_backend

        for backend, precision in self._steps:
            if backend == "torch":
                from . import torch_backend

                if self.kind == READER:
                    self.model = torch_backend.load_reader(self.resolved, self.device)
                elif self.shared:
                    self.model = torch_backend.load_encoder(self.resolved, self.device)
                else:  # the caller may free it (ask's retriever, between documents)
                    self.model = torch_backend.Encoder(self.resolved, self.device)
                self._proven = True
                return
            if self._no_copy:
                continue
            fast_load = (onnx_backend.load_fast_encoder if self.kind == ENCODER
                         else onnx_backend.load_fast_reader)
            fast = fast_load(self.resolved, precision, self.notice)
            if fast is not None:
                self.model = fast
                return
            self._no_copy = True  # no copy could be prepared (it said why): torch next

    def ready(self) -> Any:
        """The model, its session open; a copy that cannot run here is replaced by the next."""
        from .onnx_backend import first_line

        while not self._proven:
            try:
                self.model.session  # noqa: B018 - waits for the loading thread; raises its error
                self._proven = True
            except Exception as err:
                failed = self.model.precision
                then = "float32" if failed != "fp32" else "torch"
                self.notice(f"cannot load the {failed} fast CPU copy of {self.resolved.name} "
                            f"({first_line(err)}); using {then}")
                self._next()
        return self.model


def load(kind: str, resolved: ResolvedModel, device: str, precision: str,
         notice: Callable[[str], None], shared: bool = True) -> Loading:
    """Start loading `resolved` as an encoder or a reader on `device` (already resolved). A
    torch model is `shared` by every caller in the process unless said otherwise."""
    return Loading(kind, resolved, device, precision, notice, shared)
