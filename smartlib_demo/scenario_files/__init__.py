"""The scenario files of ``smartlib demo --headless`` (TOML; read by smartlib_demo.scenarios)."""
