"""Full-text search over published disclosures: tokens, the index and queries."""
