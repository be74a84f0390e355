from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="zhnlp",
    version="0.1.0",
    license="MIT",
    description="Chinese language technology platform: segmentation, POS, NER, parsing, SRL",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # the shipped models travel as the data package zhnlp_models (zhnlp/shipped.py finds it)
    packages=[*find_packages(include=["zhnlp", "zhnlp.*", "server", "server.*"]),
              "zhnlp_models"],
    package_dir={"zhnlp_models": "models"},
    include_package_data=True,
    package_data={"server": ["static/*"],
                  "zhnlp_models": ["README.md", "zhnlp-base/*", "zhnlp-small/*",
                                   "zhnlp-cws-fast/*"]},
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
                 "openapi-spec-validator>=0.7", "gensim>=4.3",  # gensim: tests/test_pretrain.py
                 "udtools>=0.2.9",  # UD's validator (tests/test_ud_validity.py)
                 "spacy>=3.7,<4", "hanlp-restful>=0.0.23",  # test_spacy, test_hanlp_rest
                 "dask[bag]>=2024.1", "distributed>=2024.1"],  # tests/test_dask.py
        "peers": ["thulac", "snownlp", "ltp-extension"],
        "pretrain": ["gensim>=4.3"],
        "spacy": ["spacy>=3.7,<4"],  # zhnlp/spacy.py
        "dask": ["dask[bag]>=2024.1", "distributed>=2024.1"],  # zhnlp/dask.py, tag --dask
    },
    entry_points={"console_scripts": ["zhnlp=zhnlp.cli:console_main"],
                  # spaCy finds the tokenizer by name in a config without importing zhnlp
                  "spacy_tokenizers": ["zhnlp.PipelineAsTokenizer.v1 = "
                                       "zhnlp.spacy:create_tokenizer"]},
)
