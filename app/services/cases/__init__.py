"""Handling reports as cases in the console: who reads them, what is done with them, and when."""
