"""``distillguard intel ...``: share campaigns and indicators with partners, and hunt with theirs."""

from __future__ import annotations

import typer

intel_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Share indicators (STIX 2.1, TAXII 2.1, MISP) and hunt with partners' reports.")

from distillguard.cli.intel_taxii_cmd import pull_cmd, push_cmd, serve_cmd  # noqa: E402

intel_app.command("serve")(serve_cmd)
intel_app.command("push")(push_cmd)
intel_app.command("pull")(pull_cmd)

from distillguard.cli.intel_import_cmd import import_cmd  # noqa: E402

intel_app.command("import")(import_cmd)

from distillguard.cli.intel_export_cmd import export_cmd  # noqa: E402

intel_app.command("export")(export_cmd)
