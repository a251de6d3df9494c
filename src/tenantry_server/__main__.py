"""``python -m tenantry_server [--demo]``: migrate, optionally seed demo data, and serve."""

from __future__ import annotations

import argparse

import uvicorn

from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tenantry_server")
    parser.add_argument("--demo", action="store_true", help="seed the plugins' demo data")
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=int, help="port (default from settings)")
    args = parser.parse_args(argv)
    settings = Settings()
    plugins = default_plugins()
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    migrate(settings, plugins)
    app = create_app(settings, plugins)
    host, port = args.host or settings.host, args.port or settings.port
    if args.demo:
        tenancy = app.state.tenancy
        lines = [line for p in plugins for line in p.seed_demo(tenancy.db, tenancy)]
        print("Demo data is ready. Sign in at", f"http://{host}:{port}/signin")
        for line in lines:
            print("  " + line)
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
