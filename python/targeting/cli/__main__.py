"""`python -m targeting.cli`: the `targeting` command."""

import sys

from targeting.cli.main import main

sys.exit(main())
