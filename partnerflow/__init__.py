"""Partnerflow's domain: settings, database tables, e-mail rendering and delivery."""
