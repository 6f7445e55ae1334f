"""The sweep file: its pydantic model (config), its semantic checks (validation), the
distributions of sample mode and the platform presets."""
