/// The tables of risk monitoring (issue 6), migration `2026-11-25-04-risk`, in both dialects.
///
/// - `risk_states`: the engine's remembered state per key (`customer:<id>`, `payee:<key>`,
///   `source:<address>`) as opaque bytes with a version that every update increments; updates
///   lock the row (PostgreSQL) so two processes never lose each other's changes.
/// - `risk_decisions` (append-only): every decision with its rule-set version, the event and the
///   context it was made on (for backtests), the explanation, and the shadow decision beside it;
///   `risk_fired_rules` repeats the fired rules as rows so they can be counted in SQL.
/// - `risk_reviews`: held transfers waiting for an operator (open → claimed → approved / rejected,
///   or expired when the hold timed out first).
/// - `risk_list_entries`, `risk_suppressions`: operators' allow/deny lists and per-customer rule
///   suppressions, each with an expiry.
/// - `risk_rule_sets` (append-only): every rule set ever put in force, per slot (live, shadow); the
///   newest row of a slot is the one in force (a shadow row without text switches shadow mode off).
/// - `risk_generation`: one counter bumped by every change of rules, lists or suppressions, which
///   other processes poll to reload within seconds.
enum RiskSchema {
    static let sqlite = """
        CREATE TABLE risk_states (
            key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 300),
            version INTEGER NOT NULL CHECK (version >= 0),
            data BLOB NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE risk_decisions (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id),
            event_kind TEXT NOT NULL CHECK (event_kind IN ('login', 'transfer', 'payment', 'withdrawal', 'topup')),
            action TEXT NOT NULL CHECK (action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            rules_action TEXT NOT NULL CHECK (rules_action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            score INTEGER NOT NULL,
            rule_set_version TEXT NOT NULL,
            shadow_action TEXT CHECK (shadow_action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            shadow_rule_set_version TEXT,
            transaction_id TEXT,
            recorded INTEGER NOT NULL CHECK (recorded IN (0, 1)),
            created_at INTEGER NOT NULL,
            event TEXT NOT NULL,
            context TEXT NOT NULL,
            decision TEXT NOT NULL,
            shadow TEXT
        );
        CREATE INDEX risk_decisions_by_user ON risk_decisions(user_id, seq);
        CREATE INDEX risk_decisions_by_time ON risk_decisions(created_at, seq);
        CREATE INDEX risk_decisions_by_transaction ON risk_decisions(transaction_id) WHERE transaction_id IS NOT NULL;
        CREATE TRIGGER risk_decisions_append_only_update BEFORE UPDATE ON risk_decisions
            BEGIN SELECT RAISE(ABORT, 'risk decisions are append-only'); END;
        CREATE TRIGGER risk_decisions_append_only_delete BEFORE DELETE ON risk_decisions
            BEGIN SELECT RAISE(ABORT, 'risk decisions are append-only'); END;

        CREATE TABLE risk_fired_rules (
            decision_id TEXT NOT NULL REFERENCES risk_decisions(id),
            shadow INTEGER NOT NULL CHECK (shadow IN (0, 1)),
            rule_id TEXT NOT NULL,
            contribution INTEGER NOT NULL,
            forced_decision TEXT,
            suppressed INTEGER NOT NULL CHECK (suppressed IN (0, 1)),
            PRIMARY KEY (decision_id, shadow, rule_id)
        ) WITHOUT ROWID;
        CREATE INDEX risk_fired_rules_by_rule ON risk_fired_rules(rule_id, shadow);

        CREATE TABLE risk_reviews (
            id TEXT PRIMARY KEY NOT NULL,
            decision_id TEXT NOT NULL UNIQUE REFERENCES risk_decisions(id),
            transaction_id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL CHECK (kind IN ('transfer', 'payment', 'withdrawal')),
            amount INTEGER NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL,
            reason TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'approved', 'rejected', 'expired')),
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            claimed_by TEXT,
            claimed_at INTEGER,
            resolved_by TEXT,
            resolved_at INTEGER,
            note TEXT,
            froze INTEGER NOT NULL DEFAULT 0 CHECK (froze IN (0, 1))
        );
        CREATE INDEX risk_reviews_by_state ON risk_reviews(state, id);
        CREATE INDEX risk_reviews_by_user ON risk_reviews(user_id, id);

        CREATE TABLE risk_list_entries (
            id TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('payee', 'device', 'country')),
            value TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
            verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'deny')),
            user_id TEXT REFERENCES users(id),
            expires_at INTEGER,
            note TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );

        CREATE TABLE risk_suppressions (
            id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            rule_id TEXT NOT NULL,
            until_at INTEGER NOT NULL,
            note TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX risk_suppressions_by_user ON risk_suppressions(user_id);

        CREATE TABLE risk_rule_sets (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            slot TEXT NOT NULL CHECK (slot IN ('live', 'shadow')),
            version TEXT,
            yaml TEXT,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            CHECK ((yaml IS NULL) = (version IS NULL)),
            CHECK (slot = 'shadow' OR yaml IS NOT NULL)
        );
        CREATE INDEX risk_rule_sets_by_slot ON risk_rule_sets(slot, seq);
        CREATE TRIGGER risk_rule_sets_append_only_update BEFORE UPDATE ON risk_rule_sets
            BEGIN SELECT RAISE(ABORT, 'rule set history is append-only'); END;
        CREATE TRIGGER risk_rule_sets_append_only_delete BEFORE DELETE ON risk_rule_sets
            BEGIN SELECT RAISE(ABORT, 'rule set history is append-only'); END;

        CREATE TABLE risk_generation (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            generation INTEGER NOT NULL
        );
        INSERT INTO risk_generation (id, generation) VALUES (1, 0);
        """

    static let postgres: [String] = [
        """
        CREATE TABLE risk_states (
            key TEXT PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 300),
            version BIGINT NOT NULL CHECK (version >= 0),
            data BYTEA NOT NULL,
            updated_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE risk_decisions (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id),
            event_kind TEXT NOT NULL CHECK (event_kind IN ('login', 'transfer', 'payment', 'withdrawal', 'topup')),
            action TEXT NOT NULL CHECK (action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            rules_action TEXT NOT NULL CHECK (rules_action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            score BIGINT NOT NULL,
            rule_set_version TEXT NOT NULL,
            shadow_action TEXT CHECK (shadow_action IN ('allow', 'challenge', 'review', 'block', 'freeze')),
            shadow_rule_set_version TEXT,
            transaction_id TEXT,
            recorded BIGINT NOT NULL CHECK (recorded IN (0, 1)),
            created_at BIGINT NOT NULL,
            event TEXT NOT NULL,
            context TEXT NOT NULL,
            decision TEXT NOT NULL,
            shadow TEXT
        )
        """,
        "CREATE INDEX risk_decisions_by_user ON risk_decisions(user_id, seq)",
        "CREATE INDEX risk_decisions_by_time ON risk_decisions(created_at, seq)",
        "CREATE INDEX risk_decisions_by_transaction ON risk_decisions(transaction_id) WHERE transaction_id IS NOT NULL",
        """
        CREATE FUNCTION lucid_risk_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'risk decisions and rule set history are append-only';
        END
        $$
        """,
        """
        CREATE TRIGGER risk_decisions_append_only BEFORE UPDATE OR DELETE ON risk_decisions
            FOR EACH ROW EXECUTE FUNCTION lucid_risk_is_append_only()
        """,
        """
        CREATE TABLE risk_fired_rules (
            decision_id TEXT NOT NULL REFERENCES risk_decisions(id),
            shadow BIGINT NOT NULL CHECK (shadow IN (0, 1)),
            rule_id TEXT NOT NULL,
            contribution BIGINT NOT NULL,
            forced_decision TEXT,
            suppressed BIGINT NOT NULL CHECK (suppressed IN (0, 1)),
            PRIMARY KEY (decision_id, shadow, rule_id)
        )
        """,
        "CREATE INDEX risk_fired_rules_by_rule ON risk_fired_rules(rule_id, shadow)",
        """
        CREATE TABLE risk_reviews (
            id TEXT PRIMARY KEY,
            decision_id TEXT NOT NULL UNIQUE REFERENCES risk_decisions(id),
            transaction_id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL CHECK (kind IN ('transfer', 'payment', 'withdrawal')),
            amount BIGINT NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL,
            reason TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'claimed', 'approved', 'rejected', 'expired')),
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            claimed_by TEXT,
            claimed_at BIGINT,
            resolved_by TEXT,
            resolved_at BIGINT,
            note TEXT,
            froze BIGINT NOT NULL DEFAULT 0 CHECK (froze IN (0, 1))
        )
        """,
        "CREATE INDEX risk_reviews_by_state ON risk_reviews(state, id)",
        "CREATE INDEX risk_reviews_by_user ON risk_reviews(user_id, id)",
        """
        CREATE TABLE risk_list_entries (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('payee', 'device', 'country')),
            value TEXT NOT NULL CHECK (char_length(value) BETWEEN 1 AND 200),
            verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'deny')),
            user_id TEXT REFERENCES users(id),
            expires_at BIGINT,
            note TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE risk_suppressions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            rule_id TEXT NOT NULL,
            until_at BIGINT NOT NULL,
            note TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX risk_suppressions_by_user ON risk_suppressions(user_id)",
        """
        CREATE TABLE risk_rule_sets (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            slot TEXT NOT NULL CHECK (slot IN ('live', 'shadow')),
            version TEXT,
            yaml TEXT,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            CHECK ((yaml IS NULL) = (version IS NULL)),
            CHECK (slot = 'shadow' OR yaml IS NOT NULL)
        )
        """,
        "CREATE INDEX risk_rule_sets_by_slot ON risk_rule_sets(slot, seq)",
        """
        CREATE TRIGGER risk_rule_sets_append_only BEFORE UPDATE OR DELETE ON risk_rule_sets
            FOR EACH ROW EXECUTE FUNCTION lucid_risk_is_append_only()
        """,
        """
        CREATE TABLE risk_generation (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            generation BIGINT NOT NULL
        )
        """,
        "INSERT INTO risk_generation (id, generation) VALUES (1, 0)",
    ]
}
