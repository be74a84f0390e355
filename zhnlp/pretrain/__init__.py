"""Encoder pretraining: data preparation (data), MacBERT masking (masking), objectives,
configuration (config) and the training loop (loop, `zhnlp pretrain --config ...`)."""
