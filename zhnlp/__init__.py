"""zhnlp: Chinese word segmentation, POS tagging, NER, dependency parsing and SRL."""

from zhnlp.errors import ZhnlpError

__version__ = "0.1.0"
__all__ = ["ZhnlpError", "__version__"]
