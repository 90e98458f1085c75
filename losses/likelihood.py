"""Negative log-likelihoods of a predicted distribution: ``poisson_nll`` and ``gaussian_nll``.

    poisson_nll(x, y)     = exp(x) - y x                      (log_input=True: x is the log-rate)
                          = x - y log(x + eps)                (log_input=False: x is the rate)
                            [+ y log y - y + 0.5 log(2 pi y) for y > 1 when full=True, Stirling's term]
    gaussian_nll(m, v, y) = 0.5 (log max(v, eps) + (y - m)^2 / max(v, eps))  [+ 0.5 log(2 pi) when full=True]

``gaussian_nll`` gives the model a variance head: for k targets it outputs 2k values, the first k
are the means and the last k pass through softplus to give the variances, v = log(1 + exp(s)).
Softplus rather than exp keeps v and its gradient finite for raw outputs of any size (exp overflows
above ~88 in float32); torch then clamps v at ``eps``. ``predict`` returns the means.

``poisson_nll`` with ``log_input=True`` (the default) reads the raw output as the log-rate, so
``predict`` returns the rate exp(x). A log-rate above ~88 overflows float32; the value is then inf
because the true loss is too large to represent.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary
from .registry import register

_WHY_NOT_CLASSES = "it models real-valued or count targets, not classes"


@register(
    "poisson_nll",
    natural_task="count",
    fits={"count": "native"},
    why_not={
        "regression": "it needs non-negative counts, and regression targets are standardised reals; "
        "use task=count, or mse / gaussian_nll for regression",
        **{t: _WHY_NOT_CLASSES for t in ("multiclass", "multilabel", "binary")},
    },
    needs_output="log-rate (log_input=True) or rate",
    needs_target="non-negative counts",
)
class PoissonNLL(TaskLoss):
    """Poisson negative log-likelihood of counts (torch.nn.PoissonNLLLoss)."""

    def __init__(
        self,
        task: str,
        *,
        log_input: bool = True,
        full: bool = False,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        self.log_input, self.full, self.eps = log_input, full, eps
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        output = match_binary(output, target)
        return F.poisson_nll_loss(
            output,
            target.to(output.dtype),
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )

    def predict(self, output: Tensor) -> Tensor:
        rate = output.exp() if self.log_input else output.clamp_min(0)
        return super().predict(rate)


def gaussian_mean_var(output: Tensor) -> tuple[Tensor, Tensor]:
    """Split a (..., 2k) variance-head output into means (..., k) and softplus variances (..., k)."""
    k = output.shape[-1] // 2
    mean, var = output[..., :k], F.softplus(output[..., k:])
    if k == 1:  # one target column: targets are (N,)
        mean, var = mean.squeeze(-1), var.squeeze(-1)
    return mean, var


@register(
    "gaussian_nll",
    natural_task="regression",
    fits={"regression": "mean + variance head", "count": "mean + variance head"},
    why_not={t: _WHY_NOT_CLASSES for t in ("multiclass", "multilabel", "binary")},
    needs_output="per-sample mean and variance (2 outputs per target)",
    needs_target="real-valued targets",
)
class GaussianNLL(TaskLoss):
    """Gaussian negative log-likelihood with a learned per-sample variance (torch.nn.GaussianNLLLoss)."""

    def __init__(self, task: str, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(task)
        self.full, self.eps = full, eps
        self.reduction = check_reduction(reduction)

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        return 2 * natural_size  # a mean and a variance per target

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        mean, var = gaussian_mean_var(output)
        return F.gaussian_nll_loss(
            mean, target.to(mean.dtype), var, full=self.full, eps=self.eps, reduction=self.reduction
        )

    def predict(self, output: Tensor) -> Tensor:
        return gaussian_mean_var(output)[0]
