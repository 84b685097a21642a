"""Reporting's read half: the routes that answer from the views, their figures, tables and read cache."""
