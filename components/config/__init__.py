"""The stack config: the user's whole interface, validated before any resource is declared."""

from components.config.errors import ConfigError
from components.config.stack import StackConfig, load_stack_config

__all__ = ["ConfigError", "StackConfig", "load_stack_config"]
