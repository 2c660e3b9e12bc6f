"""Office review: KPIs to the standards' definitions, rankings, exports, history import."""
