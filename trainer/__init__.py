"""losslab's trainer: ``python -m trainer loss=<loss> task=<task>``."""
