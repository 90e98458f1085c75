"""losslab from Python: ``trainer.run(["task=binary", "loss=focal"]) -> metrics``.

    import trainer
    results = trainer.run(["task=multiclass", "loss=focal", "trainer.max_epochs=5"])
    results["test/acc"]

    # objects built in code instead of names in the config
    results = trainer.run(["task=multiclass"], loss=MyLoss(beta=0.2), model=MyNet(64, 10))

The config is composed as ``python -m trainer`` composes it: losslab's config folder, the
``hydra.searchpath=[file://my_conf]`` of the overrides, then the overrides. ``loss``, ``model`` and
``data`` take what ``loss.target``, ``model.target`` and ``data.target`` would name: a loss module or
function, an ``nn.Module`` (class or instance), a function returning the splits or the splits
themselves (``{"train": (x, y), "val": ..., "test": ...}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from . import plugins


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``python -m trainer <overrides>`` would run, with Hydra's own node under ``hydra``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from .cli import CONF_DIR, user_message
    from .errors import UserError

    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    except Exception as exc:  # the CLI's one line for a mistake in the overrides
        message = user_message(exc)
        if message is None:
            raise
        raise UserError(message) from None


def _label(obj: Any) -> str:
    return plugins.describe(obj) if not plugins.describe(obj).startswith("a ") else f"<{type(obj).__name__} object>"


def run(
    overrides: Sequence[str] = (),
    *,
    loss: Any = None,
    model: Any = None,
    data: Any = None,
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train one configuration and return its final metrics (``metrics.json``'s content).

    ``run_dir``: where the run writes (default: the ``hydra.run.dir`` of the config,
    ``outputs/<task>/<time>``). A mistake raises ``trainer.errors.UserError`` with the CLI's message.
    """
    from .config import check_config
    from .train import train

    given = {"loss": loss, "model": model, "data": data}
    # An object takes the place of its group's custom option, whose keys (data.in_memory, ...) the overrides may set.
    cfg = compose([*(f"{group}=custom" for group, obj in given.items() if obj is not None), *overrides])
    choices = {k: v for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items() if isinstance(v, str)}
    folder = Path(run_dir if run_dir is not None else cfg.hydra.run.dir)
    with open_dict(cfg):
        del cfg["hydra"]
        for group, obj in given.items():
            if obj is None:
                continue
            label = _label(obj)
            plugins.PROVIDED[group] = {label: obj}
            cfg[group].target = label
            choices[group] = "custom"
    try:
        check_config(cfg, choices)
        return train(cfg, folder)
    finally:
        for group in given:
            plugins.PROVIDED.pop(group, None)
