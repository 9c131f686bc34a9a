"""rlhfkit's built-in plugins.

Each module registers through the ``rlhfkit`` entry-point group in rlhfkit's pyproject.toml,
exactly as a third-party package would; nothing in rlhfkit imports these modules by path.
"""
