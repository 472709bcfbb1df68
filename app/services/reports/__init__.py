"""Anonymous reports: routing, encrypted intake and uploads, follow-up, office messages, checks.

Every file of a report is an age file split in two: its header in the database (so access can
change by rewriting it) and its payload in the blob store. Plaintext exists only in memory,
for the length of one call.
"""
