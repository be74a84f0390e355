"""`python -m zhnlp ...` runs the `zhnlp` command."""

from zhnlp.cli import console_main

console_main()
