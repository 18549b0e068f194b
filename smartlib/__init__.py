"""Common ground for every smartlib-edge process: site configuration, logging, the CLI root.

This package must not import any product package (drivers, edge, sync, kiosk_ui,
hardware_sim); subcommands are found through the ``smartlib.commands`` entry points.
"""

__version__ = "0.1.0"
