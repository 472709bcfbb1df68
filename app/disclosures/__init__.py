"""The `portal disclosures` commands."""
