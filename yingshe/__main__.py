"""``python -m yingshe``: the ``yingshe`` command (see ``yingshe.cli``)."""

import sys

from yingshe.cli import main

sys.exit(main())
