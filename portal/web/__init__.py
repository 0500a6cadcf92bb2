"""HTTP blueprints by area: api, events, debug, health (and the dashboard)."""
