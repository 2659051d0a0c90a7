"""The example contracts, written for advqa, that `advqa demo` indexes."""

from pathlib import Path

# In a folder of their own: indexing the package folder would also meet this file (and __pycache__).
EXAMPLES_DIR = Path(__file__).parent / "contracts"
