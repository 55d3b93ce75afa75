import sys

from mpifn.cli import main

sys.exit(main())
