"""Teams as a domain: duty (on/off, by crew, supervisor, roster or import) and the team list."""
