"""Reference documents generated from the code (``scripts/gen_docs.py`` writes them)."""
