"""config.yaml: the typed model and its located loader."""

from monitor.config.loader import ConfigError, Loaded, Problem, load_config, parse_config
from monitor.config.model import Config

__all__ = ["Config", "ConfigError", "Loaded", "Problem", "load_config", "parse_config"]
