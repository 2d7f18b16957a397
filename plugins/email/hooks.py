"""Entry point of the email plugin (skeleton; filled in by its issue)."""
