"""REPORT: one module per output format. Formatting only; nothing here decides a finding."""
