"""Planning for city offices (issue 17): coverage, what-if stations, replay of history."""
