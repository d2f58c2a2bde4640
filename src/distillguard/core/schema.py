"""The canonical exchange and account schemas (Arrow) and their vocabularies.

Every reader produces batches of :data:`EXCHANGE_SCHEMA`; every later stage
consumes them. Free text (``system``, ``prompt``, ``response_text``,
``response_reasoning``) may be null when the store keeps no text.
"""

from __future__ import annotations

import pyarrow as pa

CATEGORIES: tuple[str, ...] = ("individual", "education", "research", "startup", "enterprise")
VERIFICATIONS: tuple[str, ...] = ("none", "email", "phone", "id_document", "business")
CAPABILITIES: tuple[str, ...] = ("reasoning", "coding", "tool_use", "agentic", "general")
API_FORMATS: tuple[str, ...] = ("anthropic", "openai")

TS_TYPE = pa.timestamp("ms", tz="UTC")

EXCHANGE_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("api_key_id", pa.string()),
        pa.field("org_id", pa.string()),
        pa.field("ip", pa.string(), nullable=False),
        pa.field("user_agent", pa.string()),
        pa.field("tls_ja4", pa.string()),
        pa.field("model", pa.string(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("api_format", pa.string(), nullable=False),
        pa.field("system", pa.string()),
        pa.field("prompt", pa.string()),
        pa.field("n_messages", pa.int32(), nullable=False),
        pa.field("n_user_turns", pa.int32(), nullable=False),
        pa.field("n_tool_results", pa.int32(), nullable=False),
        pa.field("tool_names", pa.list_(pa.string()), nullable=False),
        pa.field("thinking_budget", pa.int32()),
        pa.field("reasoning_effort", pa.string()),
        pa.field("response_text", pa.string()),
        pa.field("response_reasoning", pa.string()),
        pa.field("n_tool_calls", pa.int32(), nullable=False),
        pa.field("stop_reason", pa.string()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("reasoning_tokens", pa.int64()),
        pa.field("status", pa.int32()),
        pa.field("extra", pa.string()),
    ]
)
"""One API request with its response, flattened to what detection needs.

``prompt`` is the text of the last user message (tool results excluded);
``system`` the system prompt; ``tool_names`` the tools offered in the request;
``extra`` the JSON of any top-level fields the schema does not name.
"""

ACCOUNT_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("created_at", TS_TYPE),
        pa.field("category", pa.string()),
        pa.field("email_domain", pa.string()),
        pa.field("email_local", pa.string()),
        pa.field("country", pa.string()),
        pa.field("payment_fingerprint", pa.string()),
        pa.field("signup_ip", pa.string()),
        pa.field("verification", pa.string()),
        pa.field("extra", pa.string()),
    ]
)
"""One account record; only ``account_id`` is required."""

TEXT_COLUMNS: tuple[str, ...] = ("system", "prompt", "response_text", "response_reasoning")
