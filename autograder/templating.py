"""The one Jinja environment of the kit's HTML pages (the feedback pages and the class report): the templates of
``autograder/templates/``, every value autoescaped (student text reaches them), and the report's number filters."""
from __future__ import annotations

import jinja2

__all__ = ["ENV"]

ENV = jinja2.Environment(loader=jinja2.PackageLoader("autograder", "templates"),
                         autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
ENV.filters["pct"] = lambda x: f"{100 * x:.0f}%"
ENV.filters["r"] = lambda x: "" if x is None else f"{x:+.2f}"
