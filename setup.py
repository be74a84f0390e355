from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="zhnlp",
    version="0.1.0",
    description="Chinese language technology platform: segmentation, POS, NER, parsing, SRL",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["zhnlp", "zhnlp.*", "server", "server.*"]),
    include_package_data=True,
    package_data={"server": ["static/*"]},
    install_requires=[
        "torch>=2.1",
        "transformers>=4.40",
        "pytorch-crf>=0.7.2",
        "numba>=0.59",
        "numpy",
        "jieba>=0.42",
        "opencc>=1.1.6",
        "flask>=3.0",
        "waitress>=3.0",
        "safetensors>=0.4",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "ruff", "jsonschema>=4.18",
                 "openapi-spec-validator>=0.7",
                 "udtools>=0.2.9"],  # UD's validator (tests/test_ud_validity.py)
        "peers": ["thulac", "snownlp", "ltp-extension"],
        "pretrain": ["gensim>=4.3"],
    },
    entry_points={"console_scripts": ["zhnlp=zhnlp.cli:main"]},
)
