"""zhnlp: Chinese word segmentation, POS tagging, NER, dependency parsing and SRL."""

from zhnlp.errors import ZhnlpError

__version__ = "0.1.0"
__all__ = ["ZhnlpError", "__version__", "load"]


def load(path=None, threads=None, batch_size=32):
    """A Pipeline on the model in `path` (default: the shipped model, models/zhnlp-base);
    `threads` sets torch's CPU threads. See `zhnlp.pipeline.load`."""
    from zhnlp.pipeline import load as load_pipeline  # lazy: `import zhnlp` stays cheap

    return load_pipeline(path, threads=threads, batch_size=batch_size)
