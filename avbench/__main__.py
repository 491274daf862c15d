"""``python -m avbench`` (what ``torchrun -m avbench ...`` runs)."""
import sys

from .cli import main

sys.exit(main())
