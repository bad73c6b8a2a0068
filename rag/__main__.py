"""``python -m rag`` runs the CLI."""

from .cli import main

main()
