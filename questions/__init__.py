"""Data package: the question bank (YAML), loaded through importlib.resources."""
