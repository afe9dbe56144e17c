"""config.yaml: the typed model and its located loader.

The model is loaded on first use, so that commands which never read a config
(``vigie incident …``) start at once.
"""

from typing import TYPE_CHECKING, Any

from monitor.config.errors import ConfigError, Problem

if TYPE_CHECKING:  # what __getattr__ returns, for the type checker (otherwise every import of these is Any)
    from monitor.config.loader import Loaded, load_config, parse_config
    from monitor.config.model import Config

__all__ = ["Config", "ConfigError", "Loaded", "Problem", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "Config":
        from monitor.config.model import Config

        return Config
    if name in ("Loaded", "load_config", "parse_config"):
        from monitor.config import loader

        return getattr(loader, name)
    raise AttributeError(name)
