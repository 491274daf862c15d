"""``python -m avbench`` (what ``torchrun -m avbench ...`` runs)."""
import sys

from avbench.cli.app import main

sys.exit(main())
