"""Pure rules: no database, no HTTP, no I/O. Only the standard library and small pure libraries."""
