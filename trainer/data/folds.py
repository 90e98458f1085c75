"""``data.folds=K data.fold=i``: K-fold cross-validation over the training and validation part.

The dataset's training and validation splits are pooled and cut into K folds, stratified by class
for multiclass and binary (scikit-learn's ``StratifiedKFold``, else ``KFold``), shuffled with
``data.split_seed``; fold i is the validation split and the other K-1 folds train. The test split
stays as loaded, so every fold is tested on the same samples. ``-m data.fold=0,1,2,3,4`` sweeps the
folds; the report pairs configurations by fold as it pairs them by seed.

The features keep the dataset's own standardisation, whose statistics come from its original
training split (a part of the pool): the statistics are unsupervised, and the re-split cannot redo
what each dataset did at load time.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..errors import UserError
from .bundle import DataBundle, Split

STRATIFIED = ("multiclass", "binary")


def check_folds(folds: int | None, fold: int) -> None:
    if folds is None:
        if fold != 0:
            raise UserError(f"data.fold={fold} chooses one of data.folds folds; set data.folds=K (e.g. 5) too")
        return
    if folds < 2:
        raise UserError(f"data.folds is the number of folds, at least 2; got {folds}")
    if not 0 <= fold < folds:
        raise UserError(f"data.fold must be in 0..{folds - 1} for data.folds={folds}; got {fold}")


def fold_rows(y: np.ndarray, task: str, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of the pooled split for fold ``fold``, each sorted."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    if task in STRATIFIED:
        labels = y.reshape(n, -1)[:, 0] if y.ndim > 1 else y
        smallest = int(np.bincount(labels.astype(np.int64)).min(initial=n))
        if smallest < folds:
            raise UserError(
                f"data.folds={folds}: a class has only {smallest} samples in the training and validation part, "
                f"too few for {folds} stratified folds; use data.folds<={max(smallest, 2)}"
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        parts = list(splitter.split(np.zeros(n), labels))
    else:
        parts = list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n)))
    train, val = parts[fold]
    return np.sort(train), np.sort(val)


def refold(bundle: DataBundle, folds: int, fold: int, seed: int) -> DataBundle:
    """The bundle with its train and val splits replaced by fold ``fold`` of their pool."""
    train, val = bundle.train, bundle.val
    if not isinstance(train, Split) or not isinstance(val, Split):
        raise UserError("data.folds needs the data held in memory; set data.in_memory=true (or drop data.folds)")
    x = torch.cat([train.x, val.x])
    y = torch.cat([train.y, val.y])
    train_rows, val_rows = (torch.from_numpy(r) for r in fold_rows(y.cpu().numpy(), bundle.task, folds, fold, seed))
    # Each keeps its own transform: the training one augments, the validation one does not.
    return replace(
        bundle,
        train=Split(x[train_rows], y[train_rows], train.transform),
        val=Split(x[val_rows], y[val_rows], val.transform),
    )
