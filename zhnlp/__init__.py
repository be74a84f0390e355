"""zhnlp: Chinese word segmentation, POS tagging, NER, dependency parsing and SRL."""

from zhnlp.errors import ZhnlpError

__version__ = "0.1.0"
__all__ = ["ZhnlpError", "__version__", "load"]


def load(path=None, threads=None, batch_size=32, int8=False, precision=None, device=None,
         ud_version=2):
    """A Pipeline on a shipped model (`"base"` (default), `"small"`, `"cws-fast"`) or a
    model directory. `precision`: "int8" (default on the CPU: fast, accuracy in the model
    card) or "fp32" (full precision); `device`: "cpu" (default) or "cuda"; `threads` sets
    torch's CPU threads; `ud_version=1` keeps a UD 1.4 model's own labels (default: UD v2).
    See `zhnlp.pipeline.load`."""
    from zhnlp.pipeline import load as load_pipeline  # lazy: `import zhnlp` stays cheap

    return load_pipeline(path, threads=threads, batch_size=batch_size, int8=int8,
                         precision=precision, device=device, ud_version=ud_version)
