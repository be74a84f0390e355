import pytest

from benchmarks.support import SAMPLES, build_tiny_model, start_in_subprocess  # noqa: F401
from zhnlp.corpora import corpora_root

needs_corpora = pytest.mark.skipif(
    not corpora_root().is_dir(),
    reason=f"real corpora not found at {corpora_root()} (set ZHNLP_CORPORA)",
)


def run_concurrently(functions, timeout: float = 120) -> None:
    """Call each function in a thread of its own, all at once; wait for them all."""
    import threading

    threads = [threading.Thread(target=function) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_model")
    build_tiny_model().save(directory)
    return directory
