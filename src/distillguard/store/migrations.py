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
    # 5 -> 6: the analysts' console: its users (argon2 hashes only), its settings (the secret that signs its
    # sessions) and its audit log (actor a keyed hash of the user name; an action's overrides go to ``overrides``)
    """
    CREATE TABLE console_users (
        name VARCHAR PRIMARY KEY,
        password_hash VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        disabled BOOLEAN NOT NULL
    );
    CREATE TABLE console_settings (
        name VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    );
    CREATE TABLE console_audit (
        seq BIGINT PRIMARY KEY,
        recorded_at TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        what VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        reason VARCHAR,
        detail JSON
    );
    """,
    # 6 -> 7: the TAXII 2.1 server: collections served, every object version each holds (date_added strictly
    # increasing per store: the pagination order), the status of each POST
    """
    CREATE TABLE taxii_collections (
        api_root VARCHAR NOT NULL,
        collection_id VARCHAR NOT NULL,
        title VARCHAR NOT NULL,
        first_served TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (api_root, collection_id)
    );
    CREATE TABLE taxii_objects (
        api_root VARCHAR NOT NULL,
        collection_id VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        spec_version VARCHAR NOT NULL,
        version TIMESTAMPTZ NOT NULL,
        version_text VARCHAR NOT NULL,
        date_added TIMESTAMPTZ NOT NULL,
        object JSON NOT NULL,
        PRIMARY KEY (api_root, collection_id, id, version)
    );
    CREATE TABLE taxii_status (
        api_root VARCHAR NOT NULL,
        status_id VARCHAR NOT NULL,
        request_timestamp TIMESTAMPTZ NOT NULL,
        resource JSON NOT NULL,
        PRIMARY KEY (api_root, status_id)
    );
    """,
    # 7 -> 8: partners' intel: each import logged, the indicators it brought (latest version per STIX id), the
    # accounts the retro-hunt matched (partner_indicators, read by the partner linking family) and hunt reports
    """
    ALTER TABLE partner_indicators ADD COLUMN kind VARCHAR;
    ALTER TABLE partner_indicators ADD COLUMN value VARCHAR;
    ALTER TABLE partner_indicators ADD COLUMN stix_id VARCHAR;
    ALTER TABLE partner_indicators ADD COLUMN tlp VARCHAR;
    ALTER TABLE partner_indicators ADD COLUMN confidence INTEGER;
    ALTER TABLE partner_indicators ADD COLUMN valid_until TIMESTAMPTZ;
    ALTER TABLE partner_indicators ADD COLUMN import_id VARCHAR;
    CREATE TABLE intel_imports (
        import_id VARCHAR PRIMARY KEY,
        imported_at TIMESTAMPTZ NOT NULL,
        source VARCHAR NOT NULL,
        community VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        n_objects INTEGER NOT NULL,
        n_indicators INTEGER NOT NULL,
        n_ignored INTEGER NOT NULL
    );
    CREATE TABLE intel_indicators (
        stix_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        pattern VARCHAR NOT NULL,
        matches JSON NOT NULL,
        tlp VARCHAR,
        confidence INTEGER,
        valid_from TIMESTAMPTZ,
        valid_until TIMESTAMPTZ,
        modified TIMESTAMPTZ,
        revoked BOOLEAN NOT NULL,
        reported_as VARCHAR NOT NULL,
        import_id VARCHAR NOT NULL
    );
    CREATE TABLE hunt_reports (
        import_id VARCHAR PRIMARY KEY,
        hunted_at TIMESTAMPTZ NOT NULL,
        report JSON NOT NULL
    );
    """,
    # 8 -> 9: intel exports: each export logged (who as a keyed hash, when, community, TLP, campaigns, objects,
    # file), and each exported object's content digest with its created/modified times per community
    """
    CREATE TABLE intel_exports (
        export_id VARCHAR PRIMARY KEY,
        exported_at TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        community VARCHAR NOT NULL,
        tlp VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        campaigns VARCHAR[] NOT NULL,
        n_objects BIGINT NOT NULL,
        out_file VARCHAR NOT NULL
    );
    CREATE TABLE intel_export_objects (
        community VARCHAR NOT NULL,
        object_id VARCHAR NOT NULL,
        digest VARCHAR NOT NULL,
        created TIMESTAMPTZ NOT NULL,
        modified TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (community, object_id)
    );
    """,
    # 9 -> 10: what a campaign page draws, computed when its run is saved (keyed by run: never stale): per run,
    # campaign and view (``timeline``, ``graph``) the JSON body the console serves
    """
    CREATE TABLE campaign_views (
        run_id VARCHAR NOT NULL,
        campaign_id VARCHAR NOT NULL,
        view VARCHAR NOT NULL,
        body VARCHAR NOT NULL,
        PRIMARY KEY (run_id, campaign_id, view)
    );
    """,
    # 10 -> 11: account statistics kept between runs (store/account_days.py): a partial per account and UTC day,
    # each account's total, and how many exchange rows they hold with the fingerprint of how they were made
    """
    CREATE TABLE account_days (
        day DATE NOT NULL,
        account_id VARCHAR NOT NULL,
        last_ts TIMESTAMPTZ NOT NULL,
        stats BLOB NOT NULL,
        PRIMARY KEY (day, account_id)
    );
    CREATE TABLE account_totals (
        account_id VARCHAR PRIMARY KEY,
        first_key HUGEINT NOT NULL,
        last_ts TIMESTAMPTZ NOT NULL,
        stats BLOB NOT NULL
    );
    CREATE TABLE account_stats_state (
        exchanges BIGINT NOT NULL,
        fingerprint VARCHAR NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 11 -> 12: the origin (datacenter, VPN, Tor, residential) of every stored exchange's address, looked up once
    # with the IP intelligence the kept account statistics were made with (dropped with them, so they are made
    # again on the next run, which looks up the stored addresses)
    """
    CREATE TABLE ip_origins (
        ip VARCHAR PRIMARY KEY,
        origin TINYINT NOT NULL
    );
    DELETE FROM account_stats_state;
    """,
    # 12 -> 13: the traffic aggregates kept between runs (store/traffic_days.py): per UTC day and account the
    # exchanges per address, client, request shape, template and activity slot, read by linking and the
    # population signals instead of every stored exchange; how many exchange rows they hold and their slot
    """
    CREATE TABLE day_addresses (
        day DATE NOT NULL, account_id VARCHAR NOT NULL, ip VARCHAR NOT NULL, n BIGINT NOT NULL,
        first_ts TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE day_clients (
        day DATE NOT NULL, account_id VARCHAR NOT NULL, user_agent VARCHAR, tls_ja4 VARCHAR, n BIGINT NOT NULL
    );
    CREATE TABLE day_requests (
        day DATE NOT NULL, account_id VARCHAR NOT NULL, model VARCHAR NOT NULL, api_format VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL, thinking_budget INTEGER, reasoning_effort VARCHAR, n BIGINT NOT NULL
    );
    CREATE TABLE day_templates (
        day DATE NOT NULL, account_id VARCHAR NOT NULL, template_fp UBIGINT, template_key UBIGINT, n BIGINT NOT NULL
    );
    CREATE TABLE day_slots (day DATE NOT NULL, account_id VARCHAR NOT NULL, slot BIGINT NOT NULL, n BIGINT NOT NULL);
    CREATE TABLE traffic_days_state (exchanges BIGINT NOT NULL, slot_s BIGINT NOT NULL);
    """,
    # 13 -> 14: the chain-of-thought score of the prompt alone (signals/cot.py:PromptCotSignal), null on the rows
    # stored before it (read as no ask in the prompt)
    """
    ALTER TABLE signals ADD COLUMN prompt_cot_score FLOAT;
    """,
    # 14 -> 15: an exchange's key by a unique index of its own (``exchanges_rid``) instead of the primary key, which
    # a table cannot drop: a first ingest into an empty store builds the index once at its end instead of row by row
    # (Store.bulk_load). The rows are copied in their order (rowids count the rows folded into kept aggregates).
    """
    ALTER TABLE exchanges RENAME TO exchanges_v14;
    CREATE TABLE exchanges (
        rid UBIGINT NOT NULL,
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
    INSERT INTO exchanges SELECT * FROM exchanges_v14 ORDER BY rowid;
    DROP TABLE exchanges_v14;
    CREATE UNIQUE INDEX exchanges_rid ON exchanges (rid);
    """,
)
