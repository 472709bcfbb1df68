"""Security helpers in one place: headers, network rules, authentication."""
