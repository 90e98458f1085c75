"""Data read through a ``DataLoader``: map-style datasets that do not fit in memory (or ``data.in_memory=false``).

A :class:`StreamedSplit` keeps only the targets in memory. Its batches come from a DataLoader over
the user's ``Dataset`` with ``data.num_workers`` worker processes, pinned memory and non-blocking
copies on a GPU, in the order the trainer gives: the (seed, epoch) permutation of the in-memory
path, cut into the same batches, so a run gives the same batches either way and a resume starts at
the batch after the last one done. The targets the loss sees are the split's own (checked, and
corrupted by ``data.label_noise`` where asked), looked up by index; the dataset's are read once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError


class _Indexed(Dataset):
    """(input, index) for each item of ``dataset``: targets come from the split, by index."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return first_item(self.dataset[index]), index


def first_item(sample: Any) -> Any:
    """The input of a dataset item: items are (input, target) pairs."""
    if isinstance(sample, tuple | list) and len(sample) == 2:
        return sample[0]
    raise UserError(
        f"a dataset item must be an (input, target) pair, got {type(sample).__name__}"
        f"{f' of length {len(sample)}' if isinstance(sample, tuple | list) else ''}; return (x, y) from __getitem__"
    )


class StreamedSplit:
    """A split read batch by batch from a map-style ``Dataset`` through a DataLoader."""

    def __init__(
        self,
        dataset: Dataset,
        y: Tensor,
        sample_shape: tuple[int, ...],
        num_workers: int = 2,
        transform: Callable[[Tensor], Tensor] | None = None,
        device: torch.device | None = None,
        rows: np.ndarray | None = None,
    ) -> None:
        self.dataset, self.y, self.transform = dataset, y, transform
        self.sample_shape = tuple(sample_shape)
        self.num_workers = num_workers
        self.device = device or torch.device("cpu")
        # The dataset's items this split holds (a shard under torchrun); None: all of them, in order.
        self.rows = rows

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> StreamedSplit:
        transform = self.transform.to(device) if hasattr(self.transform, "to") else self.transform
        device = torch.device(device)
        return StreamedSplit(
            self.dataset, self.y.to(device), self.sample_shape, self.num_workers, transform, device, self.rows
        )

    def with_targets(self, y: Tensor) -> StreamedSplit:
        return StreamedSplit(
            self.dataset, y, self.sample_shape, self.num_workers, self.transform, self.device, self.rows
        )

    def part(self, rows: slice) -> StreamedSplit:
        own = np.arange(len(self)) if self.rows is None else self.rows
        return StreamedSplit(
            self.dataset, self.y[rows], self.sample_shape, self.num_workers, self.transform, self.device, own[rows]
        )

    def loader(self, index_batches: list[list[int]], seed: int = 0) -> DataLoader:
        pin = self.device.type == "cuda"
        return DataLoader(
            _Indexed(self.dataset),
            batch_sampler=index_batches,
            num_workers=self.num_workers,
            pin_memory=pin,
            # The workers' seeds come from this generator, not from torch's global one: drawing them
            # leaves the training RNG as the in-memory path leaves it.
            generator=torch.Generator().manual_seed(seed),
            persistent_workers=False,
        )

    def batches(self, batch_size: int, order: Tensor | None = None, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches in ``order`` (positions in this split; None: its own order) from batch ``start`` on."""
        positions = torch.arange(len(self)) if order is None else order.cpu()
        cuts = [positions[i : i + batch_size] for i in range(start * batch_size, len(positions), batch_size)]
        if not cuts:
            return
        own = None if self.rows is None else torch.as_tensor(self.rows)
        items = [(p if own is None else own[p]).tolist() for p in cuts]
        seed = int(positions[0]) * 7919 + start  # differs between epochs (their orders differ), fixed for a resume
        non_blocking = self.device.type == "cuda"
        for cut, (x, _) in zip(cuts, self.loader(items, seed)):
            x = x.to(self.device, non_blocking=non_blocking)
            yield (x if self.transform is None else self.transform(x)), self.y[cut.to(self.y.device)]


def read_targets(dataset: Dataset, num_workers: int) -> list[Any]:
    """Every item's target: the dataset's ``targets`` list where it has one (torchvision's datasets),
    else one pass over the items."""
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == len(dataset):  # type: ignore[arg-type]
        return list(targets.tolist() if isinstance(targets, Tensor | np.ndarray) else targets)
    loader = DataLoader(dataset, batch_size=256, num_workers=num_workers, collate_fn=lambda items: items)
    return [_target(item) for chunk in loader for item in chunk]


def _target(sample: Any) -> Any:
    first_item(sample)
    y = sample[1]
    return y.tolist() if isinstance(y, Tensor | np.ndarray) else y


def materialise(dataset: Dataset, num_workers: int) -> tuple[Tensor, list[Any]]:
    """All inputs of ``dataset`` stacked into one tensor, and the targets, read with ``num_workers`` workers."""
    loader = DataLoader(dataset, batch_size=256, num_workers=num_workers, collate_fn=lambda items: items)
    xs, ys = [], []
    for chunk in loader:
        for item in chunk:
            xs.append(torch.as_tensor(first_item(item)))
            ys.append(_target(item))
    return torch.stack(xs), ys
