"""Open factory affairs and party affairs: disclosures from draft to the signed public record."""
