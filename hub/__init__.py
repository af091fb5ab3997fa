"""The interagency exchange hub: pipeline, transport, store, configuration and command line."""

__version__ = "0.1.0"
