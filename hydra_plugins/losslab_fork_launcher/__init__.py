"""A Hydra launcher that runs sweep jobs in processes forked from the warm sweep process."""
