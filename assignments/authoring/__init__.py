"""Scripts that write the nbgrader source notebooks (``python -m assignments.authoring.<name>``) and their cell
builders."""
