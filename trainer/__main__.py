"""``python -m trainer``: see trainer.cli."""

from .cli import cli

if __name__ == "__main__":
    cli()
