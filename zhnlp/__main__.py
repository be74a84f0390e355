"""`python -m zhnlp ...` runs the `zhnlp` command."""

import sys

from zhnlp.cli import main

sys.exit(main())
