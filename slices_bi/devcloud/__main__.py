"""``python -m slices_bi.devcloud``."""

import sys

from slices_bi.devcloud.cli import main

sys.exit(main())
