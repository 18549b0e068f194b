"""The central console of a library network (``smartlib central``): fleet, alarms, staff.

It reads what every box publishes over MQTT (a collector with its own broker account),
keeps it in the central database (SQLite, or PostgreSQL by DSN) and serves a web console
to staff accounts. It imports ``sync``'s topic and message definitions and ``smartlib``,
never ``edge``, ``kiosk_ui`` or ``hardware_sim``; nothing in production imports it.
"""
