"""The training recipe and what it stands on.

recipe      train(): setup() -> fit() -> finish(); the step loop
state       the training state, what a checkpoint holds, restore
evaluate    loss and metrics over a split
checkpoint  atomic checkpoint files, RNG states
logger      TensorBoard event files
precision   32 / bf16 / fp16
signals     SIGINT/SIGTERM: stop at a step boundary with a checkpoint
distributed torchrun and SLURM
"""

from .recipe import train

__all__ = ["train"]
