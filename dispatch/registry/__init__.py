"""A centre's own registry: zones, organizations, teams and elevators from its files (issue 13).

``readers`` turns files into rows, ``validate`` rows into typed records or errors (pure, shared
with the admin API), ``importer`` diffs records against the database and writes only what
changed, ``export`` writes the same files back, ``roster`` reads weekly duty hours.
"""
