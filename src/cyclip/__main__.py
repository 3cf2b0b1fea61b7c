"""``python -m cyclip``: the same as the ``cyclip`` command."""

import sys

from cyclip.cli import main

sys.exit(main())
