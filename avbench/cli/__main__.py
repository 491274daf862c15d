"""``python -m avbench.cli`` (what ``torchrun ... -m avbench.cli eval`` runs): the ``avbench`` command."""
import sys

from avbench.cli.app import main

sys.exit(main())
