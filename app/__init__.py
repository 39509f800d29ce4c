"""Hearth: a private, local AI assistant (chat, models, monitor, training)."""

__version__ = "0.1.0"
APP_NAME = "Hearth"
