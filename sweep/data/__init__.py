"""Data files shipped with the package (platform presets)."""
