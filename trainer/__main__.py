"""Command line entry point: ``python -m trainer [overrides]`` (Hydra)."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import config as _config  # noqa: F401  (registers the structured configs)
from .distributed import cleanup, is_main, share_run_stamp
from .errors import UserError
from .signals import EXIT_CODES, Interrupted, resume_command, resume_sweep_command

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("losslab")
INTERRUPTED = (
    "\ninterrupted (Ctrl-C): stopped at once, without a checkpoint of this moment. A run that had saved "
    "one continues from it with trainer.resume=true (and the same overrides)."
)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | dict | None:
    from .train import train  # heavy imports only once the config is known to be valid

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # Sweeps skip finished jobs, resume interrupted ones and record failures instead of stopping.
        from .sweep import run_sweep_job

        try:
            return run_sweep_job(cfg, run_dir, train)
        except Interrupted as exc:  # SIGINT/SIGTERM: the job saved a checkpoint; stop the whole sweep
            _stopped(exc, resume_sweep_command(Path(HydraConfig.get().sweep.dir), sys.argv[1:]))
    try:
        results = train(cfg, run_dir)
    except Interrupted as exc:
        _stopped(exc, resume_command(run_dir, list(HydraConfig.get().overrides.task)))
    except UserError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    main_key = f"val/{cfg.task.main_metric}"
    if is_main():  # under torchrun, rank 0 speaks for all
        print(_summary(cfg, run_dir, results))
    return results.get(main_key)


def _stopped(exc: Interrupted, command: str) -> None:
    """After SIGINT/SIGTERM: say where the checkpoint is and how to go on; exit 130 / 143."""
    print(f"\n{exc}; checkpoint saved to {exc.checkpoint}\nresume with:\n  {command}", file=sys.stderr, flush=True)
    sys.exit(exc.exit_code)


def _summary(cfg: DictConfig, run_dir: Path, results: dict) -> str:
    shown = ", ".join(f"{k}={v:.4f}" for k, v in results.items() if k.startswith("test/")) or "(no test)"
    return (
        f"\n{cfg.task.name} / loss={cfg.loss.name}: {shown}\n"
        f"  {results['epochs']} epochs in {results['wall_time_s']:.1f}s; best epoch {results['best_epoch']}\n"
        f"  run directory: {run_dir}\n"
        f"  view the curves: tensorboard --logdir {run_dir} --host localhost"
    )


def cli() -> None:
    """``python -m trainer``; under torchrun, the processes first agree on one run directory."""
    share_run_stamp()
    try:
        main()
    except SystemExit as exc:  # Hydra's error report, a UserError (2), a stopped run (130/143)
        cleanup(wait_for_others=False)
        exit_now(exc.code)
    except KeyboardInterrupt:  # Ctrl-C before the step loop could take it as a stop request, or a second one
        cleanup(wait_for_others=False)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(INTERRUPTED, file=sys.stderr)
        exit_now(130)
    except BaseException:  # a traceback to show (HYDRA_FULL_ERROR=1): Python's own exit
        cleanup(wait_for_others=False)  # the others may be inside a collective; torchrun stops them
        raise
    cleanup(wait_for_others=True)
    exit_now(0)


def exit_now(code: object) -> NoReturn:
    """Exit without Python's module-by-module interpreter teardown.

    Once torch._dynamo is imported (every torch.optim optimiser imports it) that teardown takes
    about 0.9 s here, paid by every run and sweep after its last line of output. Everything losslab
    writes is closed by now; the atexit handlers (logging's final flush, multiprocessing's clean-up)
    still run, then the standard streams are flushed. ``code`` as in ``sys.exit``.
    """
    for sig in EXIT_CODES:  # SIGINT, SIGTERM: a (second) one now would only cut the exit handlers short
        signal.signal(sig, signal.SIG_IGN)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()  # CPython's own routine for these handlers; there is no public one
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    cli()
