"""Entry point of the woocommerce plugin (skeleton; filled in by its issue)."""
