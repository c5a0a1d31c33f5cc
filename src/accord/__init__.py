"""Accord: a customer master-data hub with two-way sync."""

__version__ = "0.1.0"
