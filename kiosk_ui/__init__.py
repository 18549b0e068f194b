"""The PySide6 self-service kiosk app; it talks to the edge over HTTP and WebSocket only."""
