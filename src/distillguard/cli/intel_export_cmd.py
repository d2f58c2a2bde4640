"""``distillguard intel export``: stored campaigns as a STIX 2.1 bundle or MISP events for one sharing community."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from distillguard.accounts.network import IpIntel
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.cli.console import ConfigOpt, DbOpt, IntelOpt, errors, out, stored_settings
from distillguard.core.errors import DistillguardError
from distillguard.intel.community import community
from distillguard.intel.exporter import ExportFormat, export_intel
from distillguard.intel.exports import ExitPolicy, ExportOptions
from distillguard.intel.vocabulary import TLP_LEVELS
from distillguard.store import Store


def export_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="File to write (replaced whole, or left as it was).")],
    community_name: Annotated[str, typer.Option(
        "--community", help="Sharing community: its key comes from DISTILLGUARD_INTEL_KEY_<NAME>.")],
    fmt: Annotated[str, typer.Option("--format", help="stix (a STIX 2.1 bundle) or misp (MISP events).")] = "stix",
    campaigns: Annotated[list[str] | None, typer.Option("--campaign", help="Campaign id to export (repeatable).")] = None,
    all_campaigns: Annotated[bool, typer.Option("--all", help="Export every campaign of the run.")] = False,
    run: Annotated[str | None, typer.Option("--run", help="Run id \\[default: the newest run (holding the campaign)].")] = None,
    tlp: Annotated[str, typer.Option("--tlp", help="TLP 2.0: clear, green, amber, amber+strict or red.")] = "amber",
    raw_exits: Annotated[bool, typer.Option(
        "--raw-exits/--keyed-exits",
        help="Datacenter, VPN and Tor exits as raw addresses, or keyed like residential ones.")] = True,
    producer: Annotated[str, typer.Option("--producer", help="The producer's name (its STIX identity).")] = "distillguard",
    valid_days: Annotated[int, typer.Option(
        "--valid-days", min=1, help="Indicators stay valid this many days after their last sighting or the "
                                    "analysis that found them, the later.")] = 90,
    actor: Annotated[str | None, typer.Option(
        "--actor", help="Who exports, for the log (kept as a keyed hash) \\[default: the OS user].")] = None,
    db: DbOpt = None,
    intel: IntelOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Export campaigns with their indicators; account ids, e-mails, payment fingerprints, residential exits and
    templates leave only keyed for the community, prompt text never. The export is logged in the store."""
    with errors():
        if fmt not in ("stix", "misp"):
            raise DistillguardError(f"--format {fmt!r}: expected stix or misp")
        if tlp not in TLP_LEVELS:
            raise DistillguardError(f"--tlp {tlp!r}: expected one of {', '.join(TLP_LEVELS)}")
        if bool(campaigns) == all_campaigns:
            raise DistillguardError("give --campaign ID (repeatable) or --all, not both")
        settings = stored_settings(db, config, intel)
        exits: ExitPolicy = "raw" if raw_exits else "keyed"
        options = ExportOptions(community(community_name), tlp, exits, producer, valid_days=valid_days)
        ip_intel = IpIntel.load(settings.intel_dir)
        intrusion = load_campaign_settings(settings.campaigns).intrusion
        with Store(settings.db) as store:
            result = export_intel(store, options, fmt=cast(ExportFormat, fmt), out=out_file, run=run,
                                  campaign_ids=None if all_campaigns else campaigns, actor=actor, intel=ip_intel,
                                  intrusion=intrusion)
    out.print(f"exported {len(result.campaigns)} campaign(s) as {result.n_objects:,} {fmt} objects "
              f"for community {community_name!r} (TLP:{tlp.upper()}) to {result.out}")
    if result.held:
        out.print(f"held back {len(result.held)} campaign(s) that are one customer's accounts (all on one card; name "
                  f"one with --campaign to share it): {', '.join(result.held)}")


__all__ = ["export_cmd"]
