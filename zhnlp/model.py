"""MultiTaskModel: the shared encoder plus one head per task; save/load as a self-describing
directory (config.json + model.safetensors + vocab.txt + tokenizer files), no pickle.

The model works on one sentence at a time (a string of at most `window_chars` characters:
the encoder's positions less the special tokens); splitting documents into sentences and
mapping offsets is the Pipeline's job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zhnlp.analysis import Analysis
from zhnlp.encoder import bert_states, inference_encoder, plain_bert, quantize_linears
from zhnlp.errors import ZhnlpError
from zhnlp.lexicon import Lexicon
from zhnlp.model_files import FIX, check_model_dir, read_json
from zhnlp.segmentation import FREE, words_to_tags
from zhnlp.task_registry import REGISTRY, head_class
from zhnlp.tasks.common import CHAR_OFFSET, Batch, CharSpan, chars_to_token_spans
from zhnlp.tokenizer import RESERVED_TOKENS, CharTokenizer, Encoding, lookup_form

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
PRIORS_FILE = "priors.json"  # decoding priors per task (zhnlp tune-priors)


class MultiTaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, tokenizer: CharTokenizer, heads: dict[str, nn.Module],
                 standards: list[str], default_standard: str | None = None,
                 meta: dict | None = None, lexicon: Lexicon | None = None,
                 piece_chars: int | None = None) -> None:
        super().__init__()
        if len(standards) > len(RESERVED_TOKENS):
            raise ValueError(f"at most {len(RESERVED_TOKENS)} segmentation standards")
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # BERT's pooler is unused: keep it out of the weights
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.heads = nn.ModuleDict(heads)
        self.standards = list(standards)
        self.default_standard = default_standard or self.standards[0]
        self.meta = meta or {}
        self.window_chars = encoder.config.max_position_embeddings - CHAR_OFFSET - 1
        # The Pipeline cuts longer sentences at clause boundaries: positions far beyond the
        # lengths seen in pretraining (128) and fine-tuning (200) are poorly trained.
        self.piece_chars = piece_chars or self.window_chars
        self.lexicon = None
        if lexicon is not None:
            self.attach_lexicon(lexicon)

    def attach_lexicon(self, lexicon: Lexicon) -> None:
        """Lexicon features added to the embeddings through a projection that starts at
        zero, so a pretrained or trained encoder computes the same states at first."""
        self.lexicon = lexicon
        self.lexicon_projection = nn.Linear(lexicon.feature_count,
                                            self.encoder.config.hidden_size, bias=False)
        nn.init.zeros_(self.lexicon_projection.weight)
        self.token_forms = [token.removeprefix("##") for token in self.tokenizer.vocab]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    # -- construction and storage --------------------------------------------------------

    @classmethod
    def build(cls, encoder: nn.Module, tokenizer: CharTokenizer, labels: dict[str, object],
              standards: list[str], lexicon: Lexicon | None = None,
              **head_options: dict) -> MultiTaskModel:
        """A fresh model; labels maps each task to its label list (pos: layer -> list)."""
        hidden = encoder.config.hidden_size
        heads = {task: head_class(task)(hidden, task_labels, **head_options.get(task, {}))
                 for task, task_labels in labels.items()}
        return cls(encoder, tokenizer, heads, standards, lexicon=lexicon)

    def config(self) -> dict:
        heads = {task: head.config() for task, head in self.heads.items()}
        lexicon = None if self.lexicon is None else {"max_length": self.lexicon.max_length}
        return {"model_type": "zhnlp", "encoder": self.encoder.config.to_dict(), "heads": heads,
                "standards": self.standards, "default_standard": self.default_standard,
                "piece_chars": self.piece_chars, "lexicon": lexicon, "meta": self.meta}

    def quantize(self) -> None:
        """int8 dynamic quantization of the encoder's linear layers, in place: several times
        faster on CPUs, slightly different results; for inference only (cannot be saved)."""
        if plain_bert(self.encoder):  # per-token int8, batch invariant (zhnlp/encoder.py)
            quantize_linears(self.encoder)
        else:
            import warnings

            with warnings.catch_warnings():  # torch marks the quantized API as deprecated
                warnings.simplefilter("ignore")
                self.encoder = torch.ao.quantization.quantize_dynamic(
                    self.encoder, {nn.Linear}, dtype=torch.qint8)
        self.meta["int8"] = True

    def save(self, directory: str | Path) -> None:
        if self.meta.get("int8"):
            raise ZhnlpError("a quantized (int8) model cannot be saved; save the model before "
                             "quantizing it.")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config(), ensure_ascii=False,
                                                        indent=1) + "\n", encoding="utf-8")
        half = {f"heads.{task}.{name}" for task, head in self.heads.items()
                for name in head.stored_in_float16}
        state = {name: tensor.detach().cpu().to(torch.float16 if name in half else tensor.dtype)
                 .contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, directory / WEIGHTS_FILE)
        self.tokenizer.save_pretrained(directory)
        if self.lexicon is not None:
            self.lexicon.save(directory)
        self.save_priors(directory)

    def save_priors(self, directory: str | Path) -> None:
        """The heads' decoding priors as DIR/priors.json (removed when there are none)."""
        path = Path(directory) / PRIORS_FILE
        priors = {task: head.prior_config() for task, head in self.heads.items()
                  if head.has_prior}
        if priors:
            path.write_text(json.dumps(priors, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            path.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: str | Path) -> MultiTaskModel:
        directory = Path(directory)
        # a damaged file: ZhnlpError naming it and the fix, before anything is allocated
        config = check_model_dir(directory, CONFIG_FILE, WEIGHTS_FILE, REGISTRY)
        try:
            return cls._from_files(directory, config)
        except ZhnlpError:
            raise
        except Exception as error:  # what the checks cannot foresee (a head's bad setting)
            raise ZhnlpError(f"the model in {directory} does not load ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:300]}); {FIX}.") from error

    @classmethod
    def _from_files(cls, directory: Path, config: dict) -> MultiTaskModel:
        encoder_config = dict(config["encoder"])
        encoder = inference_encoder(encoder_config)  # plain torch: no transformers import
        heads = {task: head_class(task).from_config(encoder.config.hidden_size, options)
                 for task, options in config["heads"].items()}
        lexicon = config.get("lexicon")
        if lexicon is not None:
            lexicon = Lexicon.load(directory, lexicon["max_length"])
        model = cls(encoder, CharTokenizer.from_pretrained(directory), heads,
                    config["standards"], config["default_standard"], config.get("meta"), lexicon,
                    config.get("piece_chars"))
        model.load_state_dict(load_file(directory / WEIGHTS_FILE))
        if (directory / PRIORS_FILE).exists():
            model.attach_priors(read_json(directory / PRIORS_FILE))
        return model.eval()

    def has_priors(self, tasks: list[str]) -> bool:
        """Whether decoding any of these tasks adds a prior (`Batch.forms` is then needed)."""
        return any(self.heads[task].has_prior for task in tasks if task in self.heads)

    def clear_priors(self) -> None:
        """Drop every decoding prior (they were tuned for other weights)."""
        for head in self.heads.values():
            head.clear_prior()

    def attach_priors(self, priors: dict) -> None:
        """The priors of a priors.json record, on the heads that have those tasks."""
        for task, config in priors.items():
            if task in self.heads:
                self.heads[task].attach_prior(config)

    # -- batches ---------------------------------------------------------------------------

    def standard_id(self, standard: str | None) -> int:
        standard = standard or self.default_standard
        if standard not in self.standards:
            raise ZhnlpError(f"this model knows no segmentation standard {standard!r}; it has "
                             f"{', '.join(self.standards)}.")
        return self.tokenizer.token_to_id[RESERVED_TOKENS[self.standards.index(standard)]]

    def make_batch(self, encodings: list[Encoding], standard: str | None,
                   word_spans: list[list[CharSpan]] | None = None) -> Batch:
        """Pad encoded sentences; word_spans are character spans into each sentence."""
        marker = self.standard_id(standard)
        rows = [[e.ids[0], marker, *e.ids[1:]] for e in encodings]
        width = max(map(len, rows))
        input_ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
        batch = Batch(input_ids=input_ids, attention_mask=(input_ids != 0).long(),
                      char_lengths=torch.tensor([len(row) - CHAR_OFFSET - 1 for row in rows]),
                      encodings=encodings)
        if self.lexicon is not None:
            features = np.zeros((len(rows), width, self.lexicon.feature_count), np.float32)
            for i, encoding in enumerate(encodings):
                chars = [self.token_forms[token] for token in encoding.ids[1:-1]]
                features[i, CHAR_OFFSET:CHAR_OFFSET + len(chars)] = self.lexicon.features(chars)
            batch.lexicon_features = torch.from_numpy(features)
        if word_spans is not None:
            attach_words(batch, encodings, word_spans)
        return batch

    def encode(self, batch: Batch) -> torch.Tensor:
        """[B, T, hidden] encoder states; lexicon features are added to the embeddings.
        In eval mode a BERT encoder runs through `bert_states` (same result, less
        overhead)."""
        inputs = {"input_ids": batch.input_ids}
        if self.lexicon is not None:
            inputs = {"inputs_embeds": self.encoder.get_input_embeddings()(batch.input_ids)
                      + self.lexicon_projection(batch.lexicon_features)}
        if not self.training and plain_bert(self.encoder):
            return bert_states(self.encoder, batch.attention_mask, **inputs)
        return self.encoder(attention_mask=batch.attention_mask, **inputs).last_hidden_state

    def forward(self, batch: Batch, tasks: list[str]) -> dict[str, dict[str, torch.Tensor]]:
        hidden = self.encode(batch)
        return {task: self.heads[task](hidden, batch) for task in tasks}

    # -- prediction ------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, texts: list[str], tasks: list[str], standard: str | None = None,
                words: list[list[CharSpan]] | None = None,
                forced_words: list[list[CharSpan]] | None = None) -> list[Analysis]:
        """Analyse a batch of sentences (each at most window_chars long). `words` gives the
        segmentation (character spans) and skips CWS; `forced_words` are dictionary
        matches CWS must keep as words."""
        encodings = [self.tokenizer.encode(text) for text in texts]
        if any(len(e.ids) - 2 > self.window_chars for e in encodings):
            raise ZhnlpError(f"a sentence is longer than {self.window_chars} characters; split it "
                             "first (the Pipeline does).")
        device = self.device
        batch = self.make_batch(encodings, standard)
        if self.has_priors(tasks):  # 6 µs a sentence, 2 % of zhnlp-cws-fast: only if needed
            batch.forms = [token_forms(text, e) for text, e in zip(texts, encodings)]
        on_device = batch.to(device)  # moved again once the words are attached
        hidden = self.encode(on_device)

        def outputs(task: str) -> dict[str, torch.Tensor]:
            """The head's scores for its decoder, on the CPU (the decoders are numba code); a
            head with an `inference` method computes only what decoding needs."""
            head = self.heads[task]
            scores = getattr(head, "inference", head)(hidden, on_device)
            return {name: (tensor.float() if tensor.is_floating_point() else tensor).cpu()
                    for name, tensor in scores.items()}

        needs_words = [task for task in tasks if REGISTRY[task].needs_words]
        if words is None and ("cws" in tasks or needs_words):
            forced = None if forced_words is None else forced_tag_array(
                encodings, forced_words, int(batch.char_lengths.max()))
            words = self.heads["cws"].decode(outputs("cws"), batch, forced)
        analyses = [Analysis(words=spans) for spans in words or [[] for _ in texts]]
        if needs_words:
            attach_words(batch, encodings, words)
            on_device = batch.to(device)
        for task in tasks:
            if task == "cws":  # its result is the words
                continue
            for analysis, result in zip(analyses, self.heads[task].decode(outputs(task), batch)):
                analysis.results[task] = result
        return analyses


def token_forms(text: str, encoding: Encoding) -> str:
    """The lookup form of each character token of text (`Batch.forms`)."""
    return "".join(lookup_form(text[start]) for start, _ in encoding.offsets[1:-1])


def attach_words(batch: Batch, encodings: list[Encoding], word_spans: list[list[CharSpan]]) -> None:
    """Give the batch its words (character spans per sentence) as token spans."""
    token_spans = [chars_to_token_spans(e, spans) for e, spans in zip(encodings, word_spans)]
    w_max = max([len(spans) for spans in token_spans] + [1])
    batch.word_spans = torch.zeros(len(encodings), w_max, 2, dtype=torch.long)
    for i, spans in enumerate(token_spans):
        if spans:
            batch.word_spans[i, : len(spans)] = torch.tensor(spans) + CHAR_OFFSET
    batch.word_lengths = torch.tensor([len(spans) for spans in token_spans])


def forced_tag_array(encodings: list[Encoding], forced_words: list[list[CharSpan]],
                     width: int) -> np.ndarray:
    """[B, width] B/M/E/S tag ids the dictionary forces (FREE elsewhere)."""
    forced = np.full((len(encodings), width), FREE, dtype=np.int64)
    for row, (encoding, spans) in enumerate(zip(encodings, forced_words)):
        for start, end in chars_to_token_spans(encoding, spans):
            forced[row, start:end] = words_to_tags([end - start])
    return forced
