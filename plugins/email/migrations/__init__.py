"""Alembic revisions of the email plugin: branch ``email``, depending on the core's ``0001``."""
