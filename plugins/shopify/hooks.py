"""Entry point of the shopify plugin (skeleton; filled in by its issue)."""
