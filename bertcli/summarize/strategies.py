"""The summary strategies (a module of its own: the CLI's options import it at start-up)."""

from __future__ import annotations

from enum import Enum


class Strategy(str, Enum):
    learned = "learned"  # the trained scorer (bertcli.summarize.scorer): the default
    central = "central"  # position-aware centrality with MMR (bertcli.summarize.select)
    cluster = "cluster"  # bert-extractive-summarizer's k-means (the tutorial's method)
    lead = "lead"  # the first sentences


STRATEGIES = tuple(s.value for s in Strategy)
