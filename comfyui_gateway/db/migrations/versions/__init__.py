"""Revision files, oldest first."""
