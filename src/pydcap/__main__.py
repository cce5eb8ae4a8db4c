"""``python -m pydcap``: the same as the ``pydcap`` command."""

import sys

from pydcap.cli import main

sys.exit(main())
