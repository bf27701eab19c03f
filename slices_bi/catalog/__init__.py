"""The catalog: SQL tables, the repository (all SQL) and the services (state changes)."""
