"""`python -m advqa`: the command line, for launchers that start a module (accelerate launch -m advqa)."""

from .cli import main

main()
