"""One module per `viva` subcommand. Each exposes ``add_parser(subparsers)`` and an ``ORDER`` for help.

Rules: import only the standard library at module level; heavy work happens in the handler.
"""
