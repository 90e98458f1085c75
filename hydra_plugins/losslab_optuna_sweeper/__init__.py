"""A Hydra sweeper that drives a current Optuna study (hydra-optuna-sweeper pins optuna<3)."""
