"""`python -m oneclass.cli`: the `oneclass` command."""

import sys

from oneclass.cli import main

sys.exit(main())
