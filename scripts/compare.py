"""Compare the runs of a sweep: ``python scripts/compare.py <sweep dir>`` (see trainer.sweep.report)."""

import sys

from trainer.sweep.report import main

if __name__ == "__main__":
    sys.exit(main())
