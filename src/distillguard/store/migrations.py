"""The store's versioned schema: migration ``i`` brings version ``i`` to ``i + 1``.

Append new migrations; never edit a released one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: exchanges, their signals (one row per stored exchange, written with it), accounts,
    # runs, campaigns, decisions
    """
    CREATE TABLE exchanges (
        rid UBIGINT PRIMARY KEY,
        request_id VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        account_id VARCHAR NOT NULL,
        api_key_id VARCHAR,
        org_id VARCHAR,
        ip VARCHAR NOT NULL,
        user_agent VARCHAR,
        tls_ja4 VARCHAR,
        model VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL,
        api_format VARCHAR NOT NULL,
        system VARCHAR,
        prompt VARCHAR,
        n_messages INTEGER NOT NULL,
        n_user_turns INTEGER NOT NULL,
        n_tool_results INTEGER NOT NULL,
        tool_names VARCHAR[] NOT NULL,
        thinking_budget INTEGER,
        reasoning_effort VARCHAR,
        response_text VARCHAR,
        response_reasoning VARCHAR,
        n_tool_calls INTEGER NOT NULL,
        stop_reason VARCHAR,
        input_tokens BIGINT,
        output_tokens BIGINT,
        reasoning_tokens BIGINT,
        status INTEGER,
        extra VARCHAR
    );
    CREATE TABLE signals (
        rid UBIGINT NOT NULL,
        account_id VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        cot_score FLOAT,
        reasoning_requested FLOAT,
        capability VARCHAR,
        template_fp UBIGINT,
        template_key UBIGINT,
        prompt_hash UBIGINT,
        reasoning_share FLOAT,
        output_len INTEGER,
        has_tool_calls BOOLEAN,
        lang VARCHAR
    );
    CREATE TABLE accounts (
        account_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ,
        category VARCHAR,
        email_domain VARCHAR,
        email_local VARCHAR,
        country VARCHAR,
        payment_fingerprint VARCHAR,
        signup_ip VARCHAR,
        verification VARCHAR,
        extra VARCHAR
    );
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        inputs VARCHAR[],
        counts JSON
    );
    CREATE TABLE campaigns (
        run_id VARCHAR NOT NULL,
        campaign_id VARCHAR NOT NULL,
        n_accounts INTEGER NOT NULL,
        n_exchanges BIGINT NOT NULL,
        first_seen TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        confidence DOUBLE NOT NULL,
        record JSON NOT NULL,
        PRIMARY KEY (run_id, campaign_id)
    );
    CREATE TABLE decisions (
        run_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        risk DOUBLE NOT NULL,
        action VARCHAR NOT NULL,
        flagged BOOLEAN NOT NULL,
        campaign_id VARCHAR,
        flagged_at TIMESTAMPTZ,
        reasons VARCHAR[] NOT NULL,
        PRIMARY KEY (run_id, account_id)
    );
    """,
    # 1 -> 2: indicators partners reported (matched to accounts by the intel layer)
    """
    CREATE TABLE partner_indicators (
        account_id VARCHAR NOT NULL,
        indicator VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        reported_at TIMESTAMPTZ
    );
    """,
    # 2 -> 3: the dataset-sweep signal (known prompt-set item, null when none or not configured)
    """
    ALTER TABLE signals ADD COLUMN sweep_item UBIGINT;
    """,
    # 3 -> 4: every decision keeps its evidence with its provenance (detector, score, reason) and its time
    """
    ALTER TABLE decisions ADD COLUMN evidence STRUCT(detector VARCHAR, score DOUBLE, reason VARCHAR)[];
    ALTER TABLE decisions ADD COLUMN decided_at TIMESTAMPTZ;
    """,
    # 4 -> 5: administrators' overrides, append-only: each row an audit entry, the latest per account the
    # decision in force (action NULL: the override was removed); actor is a keyed hash, never a token
    """
    CREATE TABLE overrides (
        seq BIGINT PRIMARY KEY,
        account_id VARCHAR NOT NULL,
        action VARCHAR,
        actor VARCHAR NOT NULL,
        reason VARCHAR,
        decided_at TIMESTAMPTZ NOT NULL
    );
    """,
)
