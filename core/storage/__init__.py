"""Storage: engine factory, column types, migrations and bulk helpers."""
