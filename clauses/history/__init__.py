"""Import of an agency's history from its tracking spreadsheets (see :mod:`.loading`)."""
