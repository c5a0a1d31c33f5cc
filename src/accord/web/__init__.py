"""The web app and REST API: FastAPI, server-rendered pages (Jinja2 + htmx)."""
