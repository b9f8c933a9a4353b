"""``python -m gpufleet.cli``: the same as the ``gpufleet`` command (tests start servers so)."""

import sys

from gpufleet.cli.main import main

sys.exit(main())
