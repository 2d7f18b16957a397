"""Entry point of the hubspot plugin (skeleton; filled in by its issue)."""
