"""A small curated-mutant runner (issue 10): see README.md in this folder."""
