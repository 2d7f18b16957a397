"""Entry point of the scoring plugin (skeleton; filled in by its issue)."""
