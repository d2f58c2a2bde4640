"""The campaigns layer's tunables: the shipped YAML, and errors that name the file and the field."""

from pathlib import Path

import pytest
import yaml

from distillguard.campaigns.settings import CampaignTunables, load_campaign_settings
from distillguard.core.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "src/distillguard/campaigns/default.yaml"

BEFORE_ISSUE_12 = {
    "version": 1,
    "link": {
        "max_full": 10, "cycles": 3,
        "candidate_kinds": ("ip", "signup_ip", "client", "payment", "signup_burst", "partner", "params", "rotation_pool",
                            "flagged_pool"),
        "family_min": 0.3, "min_families": 2, "weak_families": ("network", "behaviour"),
        "strong_families": {"payment": 0.6, "partner": 0.6, "rotation": 0.6},
        "min_shared": {"timing": 3}, "hubs": {"behaviour": 0.05}, "hub_min": 20,
        "cohort_share": 0.5, "cohort_lift": 2.0, "top_k": 32, "chunk": 250_000,
        "rotation": {"min_rotation": 0.7, "min_exits": 5, "purity": 0.5, "min_share": 0.5, "min_accounts": 3},
        "seed": 0,
    },
    "cluster": {
        "min_accounts": 3, "resolution": 0.25, "full_tie": 1.0, "merge_min": 0.5, "merge_families": 2,
        "merge_ignore": ("timing",),
        "broad_min": 0.8, "broad_breadth": 5.0,
        "pool_kinds": {"client": "distinct_clients", "subnet": "distinct_subnets", "ip": "distinct_ips"},
        "pool_datacenter": 0.5, "pool_min": 3.0, "pool_rate": 0.5, "pool_purity": 0.5,
        "dispatch": {"min_repeats": 5, "min_rate": 0.5, "max_p": 1e-6, "candidate_rate": 0.3, "neighbours": 6,
                     "max_events": 2000},
        "dispatch_families": ("network", "client"),
        "anchor_kinds": ("ip", "subnet", "signup_ip", "client", "payment", "signup_burst", "partner", "params"),
        "anchor_min": 3, "anchor_share": 0.5,
        "customer": {"verifications": ("business", "id_document"), "min_age_days": 90.0, "min_verified": 0.5,
                     "max_rotating": 0.5, "one_domain": 0.8, "apart": ("client", "template", "behaviour")},
        "split": {"body": 0.05, "cover": 0.8, "families": ("client",), "max_cross": 0.05},
        "seed": 0,
    },
    "lifecycle": {
        "smooth_hours": 6, "ramp_level": 0.8, "min_ramp_hours": 3, "plateau_hours": 24, "quiet_share": 0.05,
        "min_dormancy_hours": 6, "min_harvest_hours": 6, "min_shift": 0.25, "min_pivot_shift": 0.15,
        "min_gain": 15.0, "min_segment_exchanges": 20, "min_segment_hours": 6, "new_model_hours": 72.0,
        "burst_window_hours": 6.0, "burst_share": 0.2, "burst_density": 5.0, "min_burst_accounts": 3,
        "replacement_window_hours": 3, "replacement_share": 0.3, "expansion_share": 0.5, "expansion_rise": 1.25,
        "rotation_lifetime_share": 0.5, "rotation_spread": 0.25, "min_accounts": 3,
    },
    "templates": {
        "radius": 3, "band_bits": 16, "window": 4, "min_rows": 5, "merge_radius": 12, "max_atoms": 20_000,
        "hub_share": 0.002, "hub_min": 20,
    },
    "intrusion": {
        "families": ("network", "client", "template", "payment", "signup"), "min_members": 2, "family_min": 0.2,
        "min_families": 2, "strong_families": {"payment": 0.3}, "pool_indicators": 5, "pool_overlap": 0.5,
        "min_ownership": 0.5, "max_evidence": 10,
    },
}
"""The values the settings dataclasses held in code before they moved to ``default.yaml``, with the behaviour
family of issue 13 (``params`` candidates, ``weak_families``, ``hubs``, ``hub_min``), its one-customer rule (``customer``) and the
infrastructure a dispatch fleet must share (``dispatch_families``), and ``full_tie`` as fitted by
``bench/fit_full_tie.py`` (2.0 before), and session 16's young cohorts (``cohort_share``, ``cohort_lift``) and
Leiden ``resolution`` (1, modularity, before), and session 19's operators sharing one proxy pool (``split``), and
session 38's organisations kept apart (``customer.apart``), and session 47's pools of exits shared by accounts
their own evidence flags (``flagged_pool`` candidates)."""


def _typed_leaves(data: dict, prefix: str = "") -> list[tuple[str, object, type]]:
    leaves = []
    for key, value in data.items():
        if isinstance(value, dict) and key != "pool_kinds":
            leaves += _typed_leaves(value, f"{prefix}{key}.")
        else:
            leaves.append((prefix + key, value, type(value)))
    return leaves


def test_shipped_file_holds_the_values_used_before() -> None:
    shipped = load_campaign_settings()
    assert _typed_leaves(shipped.model_dump()) == _typed_leaves(BEFORE_ISSUE_12)  # 3 is not 3.0
    assert load_campaign_settings() is shipped  # read and validated once


def test_a_users_file_is_read(tmp_path: Path) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["link"]["min_families"] = 3
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = load_campaign_settings(path)
    assert isinstance(loaded, CampaignTunables)
    assert loaded.link.min_families == 3 and loaded.cluster == load_campaign_settings().cluster


def _edited(section: str, key: str, value: object) -> dict:
    """The shipped file's data with ``key`` of ``section`` (dotted; empty: the top) set to ``value``."""
    data = yaml.safe_load(SHIPPED.read_text())
    target = data
    for part in filter(None, section.split(".")):
        target = target[part]
    target[key] = value
    return data


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("link", "max_ful", 10, r"link\.max_ful: Extra inputs are not permitted"),
        ("cluster.dispatch", "max_pp", 0.1, r"cluster\.dispatch\.max_pp: Extra inputs are not permitted"),
        ("templates", "radius", "3", r"templates\.radius: Input should be a valid integer"),
        ("lifecycle", "min_gain", "high", r"lifecycle\.min_gain: Input should be a valid number"),
        ("link", "min_families", 2.5, r"link\.min_families: Input should be a valid integer"),
        ("intrusion", "min_members", True, r"intrusion\.min_members: Input should be a valid integer"),
        ("cluster", "merge_min", 1.5, r"cluster\.merge_min: Input should be less than or equal to 1"),
        ("cluster", "merge_ignore", ["timing", "weather"], r"cluster\.merge_ignore: .*unknown families \['weather'\]"),
        ("link", "candidate_kinds", "ip", r"link\.candidate_kinds: Input should be a valid tuple"),
        ("intrusion", "strong_families", {"paymnt": 0.3}, r"intrusion\.strong_families: .*unknown families"),
        ("", "version", 2, r"version: Input should be 1"),
        ("", "clustering", {}, r"clustering: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_key_or_type_names_the_file_and_the_field(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump(_edited(section, key, value)))
    with pytest.raises(ConfigError, match=message) as info:
        load_campaign_settings(path)
    assert str(info.value).startswith(f"{path}: invalid campaign settings: ")


def test_a_missing_key_is_an_error(tmp_path: Path) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    del data["lifecycle"]["min_accounts"]
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"lifecycle\.min_accounts: Field required"):
        load_campaign_settings(path)
