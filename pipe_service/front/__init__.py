"""front package."""
