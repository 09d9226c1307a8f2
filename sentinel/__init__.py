"""Sentinel: SLO burn-rate alerting on a Rete production system."""

__version__ = "0.1.0"
