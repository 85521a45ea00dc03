"""Helpers for tools/build_kb.py: fetch public release artifacts and extract facts statically."""
