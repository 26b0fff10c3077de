"""`python -m leae_hub.hub card|publish ...`: the same as `leae card|publish ...`."""

import sys

from ..cli import main

sys.exit(main(sys.argv[1:]))
