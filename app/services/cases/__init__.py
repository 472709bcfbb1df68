"""Handling reports as cases: statuses, deadlines on working days, the inbox, notes, decisions."""
