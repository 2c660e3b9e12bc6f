"""The operator's phone desk (issue 15): the hotline call queue, seats, screen-pop, recordings."""
