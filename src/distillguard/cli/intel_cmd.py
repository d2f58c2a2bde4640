"""``distillguard intel ...``: share campaigns and indicators with partners, and hunt with theirs."""

from __future__ import annotations

import typer

intel_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Share indicators (STIX 2.1, TAXII 2.1, MISP) and hunt with partners' reports.")
