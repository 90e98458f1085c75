"""The user's own data from Python: ``data=custom data.target=my_data.build`` (or ``_target_: my_data.build``).

The function is called with the arguments the config sets (``data.n=500``), plus ``task`` and
``split_seed`` if it takes arguments of those names, and returns the three splits, as a dict
``{"train": ..., "val": ..., "test": ...}`` (or a tuple in that order), each either

- a pair ``(x, y)`` of tensors or numpy arrays, or
- a map-style ``torch.utils.data.Dataset`` whose items are ``(x, y)`` pairs.

The dict may add ``num_classes`` and ``class_names``; otherwise the number of outputs comes from the
targets (the largest class index + 1, a multi-hot target's width, 1 for binary and regression).
Inputs are used as given (standardise them in the function); samples of shape (C, H, W) are image
data for ``model=auto``, anything else a table. A function may also return a ``DataBundle``.

Datasets are read into memory once when they fit (``data.in_memory=null``: in a quarter of the free
memory), and otherwise through a DataLoader (``trainer.data.stream``); ``data.in_memory=false``
always streams, ``true`` always loads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import plugins
from ..errors import UserError
from ..registry import DATASETS, TASKS
from ..schema import option
from ..tasks import TASK_NAMES
from .bundle import DataBundle, DataConfig, Split
from .stream import StreamedSplit, first_item, materialise, read_targets

CUSTOM = "custom"
SPLITS = ("train", "val", "test")
HARNESS_ARGUMENTS = ("task", "split_seed")


@dataclass
class CustomDataConfig(DataConfig):
    """Options of data=custom (the function's own arguments are set beside them)."""

    name: str = CUSTOM
    target: str | None = option(None, "the function that returns the splits, as module.function")
    in_memory: bool | None = option(None, "Datasets: true loads, false streams, null loads what fits in memory")
    num_workers: int = option(2, "DataLoader worker processes for streamed Datasets (0: read in the main process)")


OWN_KEYS = tuple(f for f in CustomDataConfig.__dataclass_fields__ if f not in ("name", "target"))


def is_custom(spec: dict[str, Any]) -> bool:
    return "_target_" in spec or spec.get("name") == CUSTOM


def resolve(spec: dict[str, Any], key: str = "data") -> tuple[Any, str, dict[str, Any]]:
    """(the user's function, its dotted name, its own arguments) for a custom data config."""
    target_key = "_target_" if "_target_" in spec else "target"
    dotted = spec.get(target_key)
    if not dotted:
        raise UserError(f"{key}=custom needs {key}.target=<module.function>, e.g. {key}.target=my_data.build")
    args = {k: v for k, v in spec.items() if k not in (*OWN_KEYS, "name", "target", "_target_")}
    obj = plugins.provided("data", dotted)  # what trainer.run(data=...) was given
    if obj is None:
        obj = plugins.import_target(dotted, f"{key}.{target_key}")
    if not callable(obj) and not isinstance(obj, dict | tuple | list | DataBundle):
        raise UserError(
            f"{key}.{target_key}={dotted} is {plugins.describe(obj)}; name a function that returns the splits"
        )
    if callable(obj) and not isinstance(obj, Dataset):
        plugins.check_arguments(obj, args, f"{key}.{target_key}={dotted}", key, HARNESS_ARGUMENTS)
    elif args:
        raise UserError(f"{key}.{target_key}={dotted} holds the data itself: it takes no arguments ({', '.join(args)})")
    return obj, dotted, args


def load(cfg: Any, task: str) -> DataBundle:
    """Call the user's function and turn what it returns into a DataBundle."""
    from omegaconf import OmegaConf

    spec = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    obj, dotted, args = resolve(spec)
    returned = obj
    if callable(obj) and not isinstance(obj, Dataset):
        returned = plugins.call_with(obj, args, {"task": task, "split_seed": spec.get("split_seed", 0)})
    if isinstance(returned, DataBundle):
        return returned
    extra: dict[str, Any] = {}
    if isinstance(returned, dict):
        missing = [s for s in SPLITS if s not in returned]
        if missing:
            raise UserError(
                f"data.target={dotted} returned a dict without {', '.join(missing)}; return "
                f"{{'train': ..., 'val': ..., 'test': ...}} (it has: {', '.join(map(str, returned)) or 'nothing'})"
            )
        extra = {k: v for k, v in returned.items() if k not in SPLITS}
        unknown = sorted(set(extra) - {"num_classes", "class_names"})
        if unknown:
            raise UserError(
                f"data.target={dotted} returned the unknown key(s) {', '.join(map(str, unknown))}; besides the "
                "splits a dict may hold num_classes and class_names"
            )
        parts = [returned[s] for s in SPLITS]
    elif isinstance(returned, tuple | list) and len(returned) == 3:
        parts = list(returned)
    else:
        raise UserError(
            f"data.target={dotted} returned {type(returned).__name__}; return the splits as "
            "{'train': (x, y), 'val': (x, y), 'test': (x, y)} (tensors, arrays or Datasets)"
        )
    in_memory, workers = spec.get("in_memory"), int(spec.get("num_workers", 2))
    target_dtype = TASKS.get(task).target_dtype
    splits = [_split(part, name, dotted, target_dtype, in_memory, workers) for part, name in zip(parts, SPLITS)]
    train = splits[0]
    num_outputs = extra.get("num_classes") or _num_outputs(task, [s.y for s in splits])
    kind = "image" if len(train.sample_shape) == 3 else "table"
    class_names = [str(c) for c in extra.get("class_names", [])]
    return DataBundle(*splits, task=task, kind=kind, num_outputs=int(num_outputs), class_names=class_names)


# kind=None: images or a table, as the function returns; model=auto is resolved once it has.
DATASETS.register(CUSTOM, load, tasks=TASK_NAMES, kind=None, schema=CustomDataConfig, open=True)


def _split(part: Any, name: str, dotted: str, target_dtype: torch.dtype, in_memory: bool | None, workers: int):
    is_dataset = hasattr(part, "__getitem__") and hasattr(part, "__len__") and not isinstance(part, tuple | list)
    if is_dataset and not isinstance(part, Tensor | np.ndarray):
        return _from_dataset(part, name, dotted, target_dtype, in_memory, workers)
    if not (isinstance(part, tuple | list) and len(part) == 2):
        raise UserError(
            f"data.target={dotted}: the {name} split must be (x, y) or a Dataset, got {type(part).__name__}"
        )
    x, y = (_tensor(v, f"the {name} split's {w}", dotted) for v, w in zip(part, ("x", "y")))
    if x.dtype == torch.float64:
        x = x.float()  # models train in float32
    split = Split(x, y.to(target_dtype))
    if in_memory is False:  # stream even tensors (what scripts/bench.py measures)
        return StreamedSplit(_TensorPairs(split.x, split.y), split.y, split.sample_shape, workers)
    return split


def _tensor(value: Any, what: str, dotted: str) -> Tensor:
    try:
        return torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
    except (TypeError, ValueError) as exc:
        raise UserError(f"data.target={dotted}: {what} is not an array ({exc})") from None


class _TensorPairs(Dataset):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.x[index], self.y[index]


def _from_dataset(
    dataset: Any, name: str, dotted: str, target_dtype: torch.dtype, in_memory: bool | None, workers: int
):
    if len(dataset) == 0:
        return Split(torch.zeros(0), torch.zeros(0, dtype=target_dtype))
    sample = torch.as_tensor(first_item(dataset[0]))
    if in_memory is None:
        in_memory = _fits(len(dataset) * sample.element_size() * sample.numel())
    if in_memory:
        x, ys = materialise(dataset, workers)
        return Split(x.float() if x.dtype == torch.float64 else x, torch.as_tensor(ys, dtype=target_dtype))
    y = torch.as_tensor(read_targets(dataset, workers), dtype=target_dtype)
    return StreamedSplit(dataset, y, tuple(sample.shape), workers)


def _fits(nbytes: int) -> bool:
    """Whether ``nbytes`` fit in a quarter of the memory free now."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume 8 GiB free
        free = 8 << 30
    return nbytes <= free // 4


def _num_outputs(task: str, ys: list[Tensor]) -> int:
    ys = [y for y in ys if len(y)]
    if task in ("multiclass", "embedding", "sequence"):
        return int(max(int(y.max()) for y in ys)) + 1
    if task == "multilabel":
        return int(ys[0].shape[1]) if ys[0].dim() == 2 else 1
    if task == "binary":
        return 1
    return 1 if ys[0].dim() == 1 else int(math.prod(ys[0].shape[1:]))


__all__ = ["CUSTOM", "CustomDataConfig", "is_custom", "load", "resolve"]
