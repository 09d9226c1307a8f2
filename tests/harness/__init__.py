"""Test harness: real Prometheus and Alertmanager servers on loopback.

The fixtures in ``tests/conftest.py`` are thin wrappers over the classes here, so a test
that needs a non-default set-up can build one itself.
"""
