"""Performance guards: statement counts that must not grow with the number of rows."""
