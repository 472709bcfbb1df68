"""The Flask pieces both apps share: disclosure names and template helpers, form validators,
and what views and commands need of the running app (its resources, today's date)."""
