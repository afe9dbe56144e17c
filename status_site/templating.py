"""One jinja2 environment, autoescaped; a federation's directory of templates wins over ours."""

from __future__ import annotations

import jinja2

from monitor.words.languages import neutralize


def make_environment(override_dir: str | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.PackageLoader("status_site", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        finalize=neutralize,  # no control or bidi character reaches the page
    )
