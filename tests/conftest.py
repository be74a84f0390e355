from pathlib import Path

import pytest

from zhnlp.corpora import corpora_root

SAMPLES = Path(__file__).resolve().parent.parent / "corpora" / "samples"

needs_corpora = pytest.mark.skipif(
    not corpora_root().is_dir(),
    reason=f"real corpora not found at {corpora_root()} (set ZHNLP_CORPORA)",
)
