from datetime import timedelta
from pathlib import Path

import pytest

from distillguard.core.decision import Action, Evidence
from distillguard.core.errors import ConfigError
from distillguard.policy import DecisionContext, decide, load_policy


@pytest.mark.parametrize(
    ("risk", "category", "action"),
    [
        (0.0, None, Action.ALLOW),
        (0.39, "individual", Action.ALLOW),
        (0.4, "individual", Action.MONITOR),
        (0.75, "individual", Action.STRIP_REASONING),  # research: see the standing table
        (0.95, "individual", Action.BLOCK),
        (0.95, "enterprise", Action.SUMMARIZE_REASONING),
    ],
)
def test_default_policy_table(risk: float, category: str | None, action: Action) -> None:
    decision = decide(load_policy(), DecisionContext("a", risk, (Evidence("d", 0.9, "why"),), category))
    assert decision.action is action
    assert decision.flagged == (action not in (Action.ALLOW, Action.MONITOR))
    assert decision.reasons == ("why",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []", "at least one rule"),
        ("rules: [{min_risk: 0.2, action: allow}, {min_risk: 0.5, action: block}]", "decreasing"),
        ("rules: [{min_risk: 0.5, action: block}]", "min_risk 0"),
        ("rules: [{min_risk: 0, action: explode}]", "rules.0.action"),
        ("rules: [{min_risk: 1.5, action: block}, {min_risk: 0, action: allow}]", "within 0..1"),
        ("rules: [{min_risk: 0, action: allow}]\ncategory_caps: {pirates: allow}", "unknown categories"),
        ("rules: [{min_risk: 0, action: allow}]\nmodels: {m: {rules: [{min_risk: 0.5, action: block}]}}", "min_risk 0"),
        ("rules: [{min_risk: 0, action: allow}]\nmodels: {m: {cap: nap}}", "models.m.cap"),
        ("rules: [{min_risk: 0, action: allow}]\nthrottle: {requests: 5, window_s: 0}", "throttle.window_s"),
        ("rules: [{min_risk: 0, action: allow}]\nverification: {default: retina}", "unknown tier"),
        ("rules: [{min_risk: 0, action: allow}]\nverification: {by_category: {startup: dna}}", "unknown tiers"),
    ],
)
def test_invalid_policy_fails_at_load(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


PER_MODEL = """
rules:
  - {min_risk: 0.9, action: block}
  - {min_risk: 0.0, action: allow}
category_caps: {enterprise: summarize_reasoning}
models:
  atlas-2-fast: {cap: throttle}
  atlas-2-pro:
    rules:
      - {min_risk: 0.5, action: strip_reasoning}
      - {min_risk: 0.0, action: monitor}
verification: {default: phone, by_category: {startup: business}}
"""


@pytest.mark.parametrize(
    ("risk", "category", "model", "action"),
    [
        (0.95, None, None, Action.BLOCK),
        (0.95, None, "atlas-2-fast", Action.THROTTLE),
        (0.60, None, "atlas-2-pro", Action.STRIP_REASONING),
        (0.10, None, "atlas-2-pro", Action.MONITOR),
        (0.95, "enterprise", "atlas-2-fast", Action.THROTTLE),
        (0.95, "enterprise", "other-model", Action.SUMMARIZE_REASONING),
    ],
)
def test_per_model_rules_and_caps(tmp_path: Path, risk: float, category: str | None, model: str | None,
                                  action: Action) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(PER_MODEL)
    policy = load_policy(path)
    assert decide(policy, DecisionContext("a", risk, (), category, model=model)).action is action


def test_verification_tier_and_throttle_rate_come_from_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(PER_MODEL)
    policy = load_policy(path)
    assert policy.tier_for("startup") == "business"
    assert policy.tier_for(None) == "phone"
    default = load_policy()
    assert default.throttle.requests > 0 and default.throttle.window_s > 0
    assert default.tier_for("individual") == "id_document"


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        (None, 0.70),  # the shipped policy: strip_reasoning from 0.70, monitor only from 0.40
        ("rules: [{min_risk: 0.8, action: throttle}, {min_risk: 0.3, action: monitor}, {min_risk: 0, action: allow}]", 0.8),
        ("rules: [{min_risk: 0.9, action: block}, {min_risk: 0.5, action: monitor}, {min_risk: 0.2, action: throttle},"
         " {min_risk: 0, action: allow}]", 0.2),
        ("rules: [{min_risk: 0.5, action: monitor}, {min_risk: 0, action: allow}]", float("inf")),
        (PER_MODEL, 0.9),  # per-model tables and caps do not move it
    ],
)
def test_flag_threshold_is_the_lowest_risk_a_rule_flags(tmp_path: Path, text: str | None, threshold: float) -> None:
    path = None
    if text is not None:
        path = tmp_path / "policy.yaml"
        path.write_text(text)
    assert load_policy(path).flag_threshold == threshold


ASKS_FOR_EXPLANATIONS = (Evidence("cot_elicitation", 0.95, "asks for step-by-step explanations in 98% of requests"),)
OLD, YOUNG = timedelta(days=214), timedelta(days=3)


@pytest.mark.parametrize(
    ("risk", "category", "verification", "age", "campaign", "action", "why"),
    [
        # A verified business with a long history is reviewed, never degraded, on its own evidence.
        (0.75, "education", "business", OLD, None, Action.MONITOR, "review (monitor) instead of strip_reasoning"),
        # Its business explains what it asks: however strong, that evidence alone is reviewed (see the next test).
        (0.95, "education", "business", OLD, None, Action.MONITOR, "review (monitor) instead of block"),
        (0.75, "individual", "id_document", OLD, None, Action.MONITOR, "214 days old"),
        (0.45, "education", "business", OLD, None, Action.MONITOR, None),  # not flagged: nothing to change
        # The enterprise cap (summarize_reasoning) leaves no room for require_verification without an analyst.
        (0.95, "enterprise", "business", OLD, None, Action.MONITOR, "review (monitor) instead of summarize_reasoning"),
        # Linked into a campaign: standing does not count.
        (0.75, "education", "business", OLD, "camp_1", Action.STRIP_REASONING, None),
        (0.95, "education", "business", OLD, "camp_1", Action.BLOCK, None),
        # Young, or weakly verified: no standing; an individual keeps the table's action.
        (0.75, "individual", "business", YOUNG, None, Action.STRIP_REASONING, None),
        (0.75, "individual", "phone", OLD, None, Action.STRIP_REASONING, None),
        (0.95, "individual", "none", YOUNG, None, Action.BLOCK, None),
        # A cover category is asked to verify instead of being degraded or blocked: again when it has its tier.
        (0.95, "education", "email", OLD, None, Action.REQUIRE_VERIFICATION,
         "education account verified at email, not linked to a campaign: id_document verification instead of"),
        (0.95, "startup", "id_document", YOUNG, None, Action.REQUIRE_VERIFICATION, "business verification instead of"),
        (0.95, "research", None, None, None, Action.REQUIRE_VERIFICATION, "no verification on record"),
        (0.95, "education", "id_document", YOUNG, None, Action.REQUIRE_VERIFICATION,
         "education account verified at id_document, not linked to a campaign: id_document verification again "
         "instead of block"),
        (0.95, "startup", "business", YOUNG, None, Action.REQUIRE_VERIFICATION, "business verification again instead of block"),
        # Below the risk that blocks a stranger, on evidence of what it asks only: reviewed (see the next tests).
        (0.75, "education", "email", OLD, None, Action.MONITOR,
         "education account verified at email, not linked to a campaign: review (monitor) instead of strip_reasoning, "
         "below 0.90 on evidence of what it asks only"),
        (0.75, "research", None, None, None, Action.MONITOR, "with no verification on record"),
        (0.75, "startup", "email", YOUNG, "camp_1", Action.STRIP_REASONING, None),
        # A campaign that is one customer's accounts (one card): each member is judged by its standing.
        (0.95, "research", "email", YOUNG, "one_card", Action.REQUIRE_VERIFICATION,
         "research account verified at email, linked only to its customer's accounts: id_document verification"),
        (0.75, "education", "business", OLD, "one_card", Action.MONITOR,
         "linked only to its customer's accounts: review (monitor) instead of strip_reasoning"),
        (0.95, "individual", "email", YOUNG, "one_card", Action.BLOCK, None),
        # No account record: no standing, the table's action.
        (0.75, None, None, None, None, Action.STRIP_REASONING, None),
        (0.95, None, None, None, None, Action.BLOCK, None),
    ],
)
def test_standing_bounds_what_own_evidence_does(risk: float, category: str | None, verification: str | None,
                                                age: timedelta | None, campaign: str | None, action: Action,
                                                why: str | None) -> None:
    context = DecisionContext("a", risk, ASKS_FOR_EXPLANATIONS, category, campaign, verification=verification, age=age,
                              one_customer=campaign == "one_card")
    decision = decide(load_policy(), context)
    assert decision.action is action
    assert decision.evidence[: len(ASKS_FOR_EXPLANATIONS)] == ASKS_FOR_EXPLANATIONS
    standing = [e for e in decision.evidence if e.detector == "policy.standing"]
    if why is None:
        assert standing == []
    else:
        assert len(standing) == 1 and why in standing[0].reason and standing[0].score == 1.0


ROTATES = Evidence("account.ip_rotation", 0.3, "a new IP address for 95% of requests")
SPOOFS = Evidence("account.client_mismatch", 0.2, "80% of requests claim a client whose TLS stack the population rarely shows")
HARVESTS = Evidence("account.one_shot_sweep", 0.4, "90% new one-shot prompts, no follow-ups")


@pytest.mark.parametrize(
    ("risk", "evidence", "action", "why"),
    [
        (0.75, (HARVESTS,), Action.MONITOR, "review (monitor) instead of strip_reasoning, below 0.90"),
        (0.75, (HARVESTS, ROTATES), Action.REQUIRE_VERIFICATION, "id_document verification instead of strip_reasoning"),
        (0.75, (SPOOFS,), Action.REQUIRE_VERIFICATION, "id_document verification instead of strip_reasoning"),
        (0.95, (HARVESTS,), Action.REQUIRE_VERIFICATION, "id_document verification instead of block"),
    ],
)
def test_a_young_cover_account_is_reviewed_below_a_block_on_evidence_of_what_it_asks_only(
        risk: float, evidence: tuple[Evidence, ...], action: Action, why: str) -> None:
    """A student's or a lab's account, days old, that asks for reasoning (all a student or an eval asks for) is
    reviewed below the risk that blocks a stranger; a spoofed client or a rotating exit, or a risk that would block,
    asks it to verify."""
    decision = decide(load_policy(), DecisionContext("a", risk, evidence, "education", verification="email", age=YOUNG))
    assert decision.action is action
    [standing] = [e for e in decision.evidence if e.detector == "policy.standing"]
    assert why in standing.reason


@pytest.mark.parametrize(
    ("risk", "category", "evidence", "action", "why"),
    [
        (0.95, "education", (ROTATES,), Action.REQUIRE_VERIFICATION,
         "review (require_verification) instead of block, on evidence of account.ip_rotation"),
        (0.95, "startup", (HARVESTS, SPOOFS, ROTATES), Action.REQUIRE_VERIFICATION,
         "on evidence of account.client_mismatch, account.ip_rotation"),
        # What it asks, however much: an analyst reviews.
        (0.95, "education", (HARVESTS,), Action.MONITOR, "review (monitor) instead of block"),
        # How it reaches us, below the risk that would block a stranger: reviewed too.
        (0.85, "education", (SPOOFS,), Action.MONITOR, "review (monitor) instead of strip_reasoning"),
        # The enterprise cap leaves no room for require_verification, whatever the evidence.
        (0.95, "enterprise", (SPOOFS,), Action.MONITOR, "review (monitor) instead of summarize_reasoning"),
    ],
)
def test_established_accounts_verify_again_only_on_evidence_of_how_their_traffic_reaches_us(
        risk: float, category: str, evidence: tuple[Evidence, ...], action: Action, why: str) -> None:
    context = DecisionContext("a", risk, (*ASKS_FOR_EXPLANATIONS, *evidence), category, verification="business", age=OLD)
    decision = decide(load_policy(), context)
    assert decision.action is action
    standing = [e for e in decision.evidence if e.detector == "policy.standing"]
    assert len(standing) == 1 and why in standing[0].reason
    if action is Action.MONITOR:
        assert "on evidence of" not in standing[0].reason


def test_a_policy_without_standing_keeps_the_table(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(PER_MODEL)
    context = DecisionContext("a", 0.95, (), "education", verification="business", age=OLD)
    assert decide(load_policy(path), context).action is Action.BLOCK


def test_unknown_verification_in_a_context_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown verification"):
        DecisionContext("a", 0.5, verification="retina")


STANDING_BASE = "rules: [{min_risk: 0.5, action: strip_reasoning}, {min_risk: 0, action: allow}]\nstanding: "


@pytest.mark.parametrize(
    ("standing", "message"),
    [
        ("{established: {min_verification: retina}}", "unknown verification"),
        ("{established: {min_age_days: -1}}", "standing.established.min_age_days"),
        ("{established: {verify_from_risk: 1.5}}", "standing.established.verify_from_risk"),
        ("{established: {verify_on: [account.ip_rotaton]}}", r"unknown detectors \['account.ip_rotaton'\]"),
        ("{established: {verify_on: [account.conversation]}}", r"unknown detectors \['account.conversation'\]"),
        ("{established: {min_age: 90}}", "standing.established.min_age"),
        ("{cover: {categories: [pirates]}}", "unknown categories"),
        ("{cover: {instead_of: [monitor]}}", "not degrading actions"),
        ("{cover: {instead_of: [require_verification]}}", "not degrading actions"),
        ("{cover: {instead_of: [explode]}}", "standing.cover.instead_of.0"),
        ("{cover: {review_below: 1.2}}", "standing.cover.review_below"),
        ("{cover: {verify_on: [account.ip_rotaton]}}", r"unknown detectors \['account.ip_rotaton'\]"),
        ("{vip: {}}", "standing.vip"),
    ],
)
def test_invalid_standing_fails_at_load(tmp_path: Path, standing: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(STANDING_BASE + standing)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


def test_policy_reads_the_verify_on_of_established_and_reviewing_cover_standing() -> None:
    policy = load_policy()
    established, cover = policy.standing.established, policy.standing.cover
    assert established is not None and cover.review_below > 0
    assert policy.reads == frozenset(established.verify_on) >= {"account.client_mismatch", "account.ip_rotation"}
    cover_only = policy.standing.model_copy(update={"established": None})
    assert policy.model_copy(update={"standing": cover_only}).reads == frozenset(cover.verify_on)
    bare = cover_only.model_copy(update={"cover": cover.model_copy(update={"review_below": 0.0})})
    assert policy.model_copy(update={"standing": bare}).reads == frozenset()
