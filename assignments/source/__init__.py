"""The kit's source assignments (``<name>/<name>.ipynb``, with solutions), as data: pyproject.toml maps this folder
into the installed package as ``autograder.sources`` (autograder.assignment.packaged_sources)."""
