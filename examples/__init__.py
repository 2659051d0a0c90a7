"""The example contracts, written for advqa, that `advqa demo` indexes."""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent
