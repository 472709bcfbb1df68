"""Domain logic. Services take a session (and keys) as arguments and raise their own errors."""
