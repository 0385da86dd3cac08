"""Peak bytes of live tensor storage, on any device: the CPU run's stand-in for
``torch.cuda.max_memory_allocated``.

``LiveTensorBytes`` is a ``TorchDispatchMode``: every tensor an operator returns is counted by its
storage's size until that storage is freed (a ``weakref.finalize`` on the storage, which PyTorch
keeps as one Python object for as long as the storage lives). Views share their base's storage and
count once. It sees what runs in the thread that entered it, from then on: tensors made before,
or in other threads (a streamer's generation thread), are not counted.

    tracker = LiveTensorBytes()
    tracker.__enter__()        # a notebook: from this cell on; or ``with LiveTensorBytes() as tracker:``
    ...
    tracker.peak, tracker.current

On a GPU, the allocator rounds each block up (to 512 bytes) and keeps freed blocks cached, so
``max_memory_allocated`` is close to this count for the same operations and ``max_memory_reserved``
is higher; the CUDA context and kernels' workspaces come on top of both.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveTensorBytes(TorchDispatchMode):
    """Counts live tensor storage bytes and their peak; see the module's docstring."""

    def __init__(self):
        super().__init__()
        self._live: dict[int, int] = {}  # id(storage object) -> bytes
        self.current = 0
        self.peak = 0

    def _freed(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def _track(self, tensor: torch.Tensor) -> None:
        if tensor.device.type == "meta":
            return
        storage = tensor.untyped_storage()
        key, size = id(storage), storage.nbytes()
        if size == 0 or key in self._live:
            return
        self._live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._freed, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if isinstance(item, torch.Tensor):
                self._track(item)
        return out
