"""actuation package."""
