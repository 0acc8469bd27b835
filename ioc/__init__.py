"""ioc: an Intelligent Operations Center for Vietnamese provinces, former districts and communes."""

__version__ = "0.1.0"
