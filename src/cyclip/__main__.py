import sys

from cyclip.cli import main

sys.exit(main())
