"""The built-in text modality: short lines (names, titles, captions) learned from a text file,
by character or by word, with the maximum-likelihood baseline and RelGAN.

This module is the plugin: it registers through the same hooks a third-party package uses and
stays torch-free at import; the heavy parts are named as ``"module:attr"`` strings.
"""

from __future__ import annotations

from collections.abc import Callable

from ...components import Metric, Modality, ModelFamily
from ...hookspecs import hookimpl

NAME = "text"
_PKG = "ganforge.core.modalities.text"


@hookimpl
def ganforge_register_modalities(register: Callable[[Modality], None]) -> None:
    register(Modality(
        NAME,
        "Short lines of text (names, titles, captions), by character or word",
        codec=f"{_PKG}.codec:TextCodec",
        data=f"{_PKG}.data:build_dataset",
        data_help="a UTF-8 text file or a folder of them, one line per sample; builtin:names (first "
                  "names, the demo corpus)",
        default_family="relgan",
    ))


@hookimpl
def ganforge_register_families(register: Callable[[ModelFamily], None]) -> None:
    register(ModelFamily("mle", NAME, f"{_PKG}.family:TextFamily",
                         "LSTM language model trained by maximum likelihood (the baseline)"))
    register(ModelFamily("relgan", NAME, f"{_PKG}.family:RelGANFamily",
                         "RelGAN: MLE pre-training, Gumbel-softmax GAN, multi-representation CNN "
                         "discriminator, relativistic loss, temperature annealing"))


@hookimpl
def ganforge_register_metrics(register: Callable[[Metric], None]) -> None:
    m = "ganforge.core.metrics.text"
    register(Metric(NAME, "bleu", f"{m}:bleu_metric",
                     "BLEU-2..5 (NLTK sentence BLEU, smoothing 1) against the whole reference file", False))
    register(Metric(NAME, "self_bleu", f"{m}:self_bleu_metric",
                    "Self-BLEU-2..5 of samples against the other samples (lower: more diverse)"))
    register(Metric(NAME, "novelty", f"{m}:novelty_metric",
                    "share of generated lines not in the training data", False))
