"""`python -m leae_hub.cli ...` = `leae ...`."""

import sys

from leae_hub.cli import main

sys.exit(main())
