"""Maintenance scripts for the emulator (not imported at run time)."""
