"""`viva config [show | path]`: the settings in force and where the config file lives."""

from __future__ import annotations

import argparse
import json

ORDER = 90


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the settings in force (file < VIVA_* environment) or the file's path")
    p.add_argument("action", nargs="?", choices=["show", "path"], default="show")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from agent.config import config_path, get_settings

    if args.action == "path":
        print(config_path())
        return 0
    data = get_settings().model_dump(mode="json")
    if data.get("judge_api_key"):
        data["judge_api_key"] = "***"  # never echo a secret
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        path = config_path()
        print(f"# config file: {path}{'' if path.exists() else ' (not present; defaults and VIVA_* apply)'}")
        for key, value in data.items():
            print(f"{key} = {json.dumps(value)}")
    return 0
