"""Cross-version test matrix: isolated Sentence Transformers environments (see ``envs``)."""
