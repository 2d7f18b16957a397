"""Built-in crmhub plugins. Each registers through the ``crmhub.plugins`` entry-point group."""
