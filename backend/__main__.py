"""``python -m backend`` is the ``optline`` command."""

from backend.cli import main

main()
