"""``python -m cab_trace`` is ``cab-trace``."""

import sys

from cab_trace.cli import main

sys.exit(main())
