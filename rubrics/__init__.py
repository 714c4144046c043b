"""Data package: rubrics and sample answers (YAML), loaded through importlib.resources."""
