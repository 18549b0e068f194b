"""The central console's web app: server-rendered pages (Jinja2), a JSON API and a live
alarm feed (SSE). Built by :func:`central.web.app.create_app`; no import-time side effects."""
