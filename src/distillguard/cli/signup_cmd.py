"""``distillguard signup assess``: the verification tier of one signup or of a file of them."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.table import Table
from rich.text import Text

from distillguard.cli.console import console as _console
from distillguard.cli.console import out as _out
from distillguard.core.errors import ConfigError, DistillguardError, RecordError
from distillguard.core.ids import keyed_hash, load_hash_key
from distillguard.policy.signup import PHONE_OR_STRONGER, TIERS, SignupAssessment, load_signup_assessor
from distillguard.policy.signup_request import SignupRequest
from distillguard.store import Store

signup_app = typer.Typer(no_args_is_help=True, help="Verification tiers at signup.")


@dataclass(frozen=True, slots=True)
class SignupRecord:
    """One signup read from a file: where it was, its account id if given, the request."""

    where: str
    account_id: str | None
    request: SignupRequest


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _raw_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, record)`` from a JSONL or CSV file (``.gz`` allowed); empty CSV cells are absent."""
    is_csv = path.name.removesuffix(".gz").endswith(".csv")
    try:
        with _open_text(path) as fh:
            if is_csv:
                reader = csv.DictReader(fh)
                for row in reader:
                    yield f"{path}:{reader.line_num}", {k: v for k, v in row.items() if k and v not in (None, "")}
                return
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{lineno}", orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise RecordError(f"not valid JSON ({path}:{lineno}): {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read signup records: {exc}") from exc


def read_signups(path: Path) -> list[SignupRecord]:
    """Every record of ``path``, validated, in ``created_at`` order (file order among equals)."""
    records = []
    for where, raw in _raw_records(path):
        request = SignupRequest.from_mapping(raw, where)
        account_id = raw.get("account_id") if isinstance(raw, dict) else None
        if account_id is not None and not isinstance(account_id, str):
            raise RecordError(f"expected a string ({where})", "account_id")
        records.append(SignupRecord(where, account_id, request))
    records.sort(key=lambda r: r.request.created_at)
    return records


def _labels(path: Path) -> dict[str, str]:
    """``account_id`` → ``label/population`` from a simulator ``labels.jsonl``."""
    found = {}
    for where, row in _raw_records(path):
        if not isinstance(row, dict) or not isinstance(row.get("account_id"), str) or "label" not in row:
            raise RecordError(f"expected account_id and label ({where})")
        found[row["account_id"]] = f"{row['label']}/{row.get('population') or '-'}"
    return found


def _evidence_table(assessment: SignupAssessment) -> Table:
    table = Table(title=f"signup: {assessment.tier} verification (score {assessment.score:.2f})", title_justify="left")
    table.add_column("detector", style="bold")
    table.add_column("score", justify="right")
    table.add_column("reason")
    for e in assessment.evidence:
        table.add_row(e.detector, f"{e.score:.2f}", e.reason)
    if not assessment.evidence:
        table.add_row("-", "0.00", "no risk signal")
    return table


def _tier_table(assessments: list[SignupAssessment]) -> Table:
    table = Table(title=f"signup tiers of {len(assessments):,} signups", title_justify="left")
    table.add_column("tier", style="bold")
    table.add_column("signups", justify="right")
    table.add_column("share", justify="right")
    counts = Counter(a.tier for a in assessments)
    for tier in TIERS:
        table.add_row(tier, f"{counts[tier]:,}", f"{counts[tier] / max(len(assessments), 1):.1%}")
    detectors = Counter(e.detector for a in assessments for e in a.evidence)
    for detector, n in detectors.most_common():
        table.add_row(Text(f"  evidence {detector}", style="dim"), f"{n:,}", "")
    return table


def friction_table(groups: list[str | None], assessments: list[SignupAssessment], budget: float) -> Table:
    """Per group (label/population): signups and the share asked for phone verification or stronger.

    Legitimate groups (label ``legit``) are checked against ``budget``, the
    rules' friction budget: the share the thresholds are designed to stay under.
    """
    table = Table(title=f"asked for phone or stronger, by population (budget for legitimate signups: {budget:.1%})",
                  title_justify="left")
    for name, justify in (("population", "left"), ("signups", "right"), ("phone or stronger", "right"), ("share", "right"),
                          ("budget", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    totals: Counter[str] = Counter()
    strong: Counter[str] = Counter()
    for group, a in zip(groups, assessments, strict=True):
        for key in {group or "unlabelled", (group or "unlabelled").split("/")[0] + "/all"}:
            totals[key] += 1
            strong[key] += a.tier in PHONE_OR_STRONGER
    for key in sorted(totals):
        share = strong[key] / totals[key]
        within = Text("within", style="green") if share <= budget else Text("over", style="bold red")
        table.add_row(key, f"{totals[key]:,}", f"{strong[key]:,}", f"{share:.1%}",
                      within if key.startswith("legit/") else "")
    return table


def _write(path: Path, records: list[SignupRecord], assessments: list[SignupAssessment], key: bytes | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for record, assessment in zip(records, assessments, strict=True):
            row: dict[str, Any] = {"where": record.where}
            if record.account_id is not None and key is not None:
                row["account"] = keyed_hash(record.account_id, key)
            row.update(assessment.to_dict())
            fh.write(orjson.dumps(row) + b"\n")


def _single(category: str | None, email: str | None, ip: str | None, payment: str | None,
            country: str | None, created_at: str | None) -> SignupRecord:
    missing = [flag for flag, value in (("--category", category), ("--email", email), ("--ip", ip)) if value is None]
    if missing:
        raise typer.BadParameter(f"give a records file, or {', '.join(missing)} for one signup")
    data = {"category": category, "email": email, "signup_ip": ip, "payment_fingerprint": payment,
            "country": country, "created_at": created_at}
    return SignupRecord("command line", None, SignupRequest.from_mapping(data, "command line"))


@signup_app.command("assess")
def assess_cmd(
    records: Annotated[Path | None, typer.Argument(
        help="JSONL or CSV of signup records (account records work too); .gz allowed.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Account category of one signup.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email address of one signup.")] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="Signup IP address of one signup.")] = None,
    payment: Annotated[str | None, typer.Option("--payment", help="Payment fingerprint of one signup.")] = None,
    country: Annotated[str | None, typer.Option("--country", help="Country of one signup.")] = None,
    created_at: Annotated[str | None, typer.Option("--created-at", help="ISO-8601 time of one signup [default: now].")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="Store with earlier accounts and the latest run's flagged accounts.")] = None,
    intel: Annotated[Path | None, typer.Option(
        "--intel", help="Directory of IP lists (datacenter, VPN, Tor, cloud ranges).")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Signup rules YAML [default: the shipped signup.yaml].")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="JSONL of assessments [default: signup-assessments.jsonl for a file].")] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Ground-truth labels.jsonl: also print the share asked for phone or stronger per population.")] = None,
) -> None:
    """The verification tier each signup must pass, with its evidence.

    A file's signups are assessed in created_at order, each against the store's
    accounts and the signups before it only. Outputs carry keyed hashes of
    account ids (DISTILLGUARD_HASH_KEY), never addresses or email local parts.
    """
    try:
        if db is not None and not db.exists():
            raise ConfigError(f"{db}: store not found")
        signups = read_signups(records) if records is not None else [_single(category, email, ip, payment, country, created_at)]
        key = load_hash_key() if any(r.account_id is not None for r in signups) else None
        store = Store(db).open() if db is not None else None
        try:
            assessor = load_signup_assessor(store, intel, rules)
        finally:
            if store is not None:
                store.close()
        assessments = [assessor.assess(r.request) for r in signups]
        target = out if out is not None else (Path("signup-assessments.jsonl") if records is not None else None)
        if target is not None:
            _write(target, signups, assessments, key)
        if records is None:
            _out.print(_evidence_table(assessments[0]))
        else:
            _out.print(_tier_table(assessments))
        if labels is not None:
            truth = _labels(labels)
            _out.print(friction_table([truth.get(r.account_id or "") for r in signups], assessments,
                                      assessor.rules.friction_budget.max_legit_share_phone_or_stronger))
        if target is not None:
            _console.print(f"assessments written to {target}")
    except DistillguardError as exc:
        _console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None


__all__ = ["SignupRecord", "friction_table", "read_signups", "signup_app"]
