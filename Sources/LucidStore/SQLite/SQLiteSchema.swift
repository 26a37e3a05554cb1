import GRDB

/// Named migrations for the SQLite store. A migration that has shipped is
/// never edited: fix forward with a new one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-25-01-foundation") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY NOT NULL,
                    email TEXT UNIQUE,
                    phone TEXT UNIQUE,
                    password_hash TEXT NOT NULL,
                    display_name TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
                    country TEXT NOT NULL CHECK (length(country) = 2),
                    tier INTEGER NOT NULL DEFAULT 0 CHECK (tier IN (0, 1, 2)),
                    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
                    frozen_reason TEXT,
                    created_at INTEGER NOT NULL,
                    CHECK (email IS NOT NULL OR phone IS NOT NULL)
                );
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
                    device_id TEXT,
                    source_address TEXT,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE INDEX sessions_by_user ON sessions(user_id);
                CREATE TABLE operators (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'auditor')),
                    token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE TABLE merchants (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    country TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE accounts (
                    id INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('customer', 'merchant', 'system')),
                    owner_id TEXT,
                    code TEXT,
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    posted INTEGER NOT NULL DEFAULT 0,
                    pending_out INTEGER NOT NULL DEFAULT 0 CHECK (pending_out >= 0),
                    pending_in INTEGER NOT NULL DEFAULT 0 CHECK (pending_in >= 0),
                    entry_seq INTEGER NOT NULL DEFAULT 0 CHECK (entry_seq >= 0),
                    created_at INTEGER NOT NULL,
                    CHECK (kind = 'system' OR (posted >= 0 AND posted - pending_out >= 0)),
                    CHECK ((kind = 'system') = (code IS NOT NULL)),
                    CHECK ((kind = 'system') = (owner_id IS NULL))
                );
                CREATE UNIQUE INDEX accounts_by_owner ON accounts(owner_id, currency) WHERE owner_id IS NOT NULL;
                CREATE UNIQUE INDEX accounts_by_code ON accounts(code, currency) WHERE code IS NOT NULL;

                -- The journal: one row per movement (double entry: the debit and the
                -- credit side of the same amount). Rows are never updated or deleted;
                -- a pending row is resolved by a later row pointing at it.
                CREATE TABLE journal (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL CHECK (kind IN ('topup', 'transfer', 'payment', 'withdrawal', 'fee', 'reversal',
                        'adjustment', 'post_pending', 'void_pending', 'expire_pending')),
                    debit_account_id INTEGER NOT NULL REFERENCES accounts(id),
                    credit_account_id INTEGER NOT NULL REFERENCES accounts(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    pending INTEGER NOT NULL CHECK (pending IN (0, 1)),
                    parent_id TEXT REFERENCES journal(id),
                    pending_id TEXT REFERENCES journal(id),
                    reverses_id TEXT REFERENCES journal(id),
                    debit_entry_seq INTEGER,
                    credit_entry_seq INTEGER,
                    debit_balance_after INTEGER,
                    credit_balance_after INTEGER,
                    timeout_at INTEGER,
                    memo TEXT,
                    reason TEXT,
                    initiator TEXT,
                    created_at INTEGER NOT NULL,
                    CHECK (debit_account_id <> credit_account_id),
                    -- posted rows carry both entries, holds and releases carry none
                    CHECK ((debit_entry_seq IS NULL) = (pending = 1 OR kind IN ('void_pending', 'expire_pending'))),
                    CHECK ((debit_entry_seq IS NULL) = (credit_entry_seq IS NULL)),
                    CHECK ((debit_entry_seq IS NULL) = (debit_balance_after IS NULL)),
                    CHECK ((credit_entry_seq IS NULL) = (credit_balance_after IS NULL)),
                    CHECK ((pending_id IS NOT NULL) = (kind IN ('post_pending', 'void_pending', 'expire_pending')))
                );
                CREATE INDEX journal_by_debit ON journal(debit_account_id, seq);
                CREATE INDEX journal_by_credit ON journal(credit_account_id, seq);
                CREATE INDEX journal_by_parent ON journal(parent_id) WHERE parent_id IS NOT NULL;
                -- a pending row is resolved at most once, a row reversed at most once; partial
                -- indexes so the common row (neither) costs no index entry
                CREATE UNIQUE INDEX journal_resolution ON journal(pending_id) WHERE pending_id IS NOT NULL;
                CREATE UNIQUE INDEX journal_reversal ON journal(reverses_id) WHERE reverses_id IS NOT NULL;
                CREATE INDEX journal_open_holds ON journal(timeout_at) WHERE pending = 1;
                CREATE TRIGGER journal_is_append_only_update BEFORE UPDATE ON journal
                    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
                CREATE TRIGGER journal_is_append_only_delete BEFORE DELETE ON journal
                    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;

                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
                    request_hash TEXT NOT NULL,
                    transaction_id TEXT NOT NULL REFERENCES journal(id),
                    status_code INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (scope, key)
                ) WITHOUT ROWID;

                CREATE TABLE daily_usage (
                    account_id INTEGER NOT NULL REFERENCES accounts(id),
                    day TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount >= 0),
                    PRIMARY KEY (account_id, day)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-11-25-02-account-protection") { db in
            try db.execute(sql: AccountProtectionSchema.sqlite)
        }
        migrator.registerMigration("2026-11-25-03-payment-rails") { db in
            try db.execute(sql: PaymentRailSchema.sqlite)
        }
        migrator.registerMigration("2026-11-25-04-risk") { db in
            try db.execute(sql: RiskSchema.sqlite)
        }
        migrator.registerMigration("2026-11-25-05-bank-accounts") { db in
            try db.execute(sql: BankAccountSchema.sqlite)
        }
        return migrator
    }
}

/// Issue 4's tables: lockout and second-factor state on users, recovery codes,
/// sessions with devices, known devices and countries, rate windows, one-time
/// tokens, the notification outbox and the audit log. Shared text for SQLite;
/// PostgreSQL's dialect is in `PostgresSchema`.
enum AccountProtectionSchema {
    static let sqlite = """
        ALTER TABLE users ADD COLUMN password_changed_at INTEGER;
        ALTER TABLE users ADD COLUMN totp_secret BLOB;
        ALTER TABLE users ADD COLUMN totp_pending_secret BLOB;
        ALTER TABLE users ADD COLUMN totp_enabled_at INTEGER;
        ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
        ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0);
        ALTER TABLE users ADD COLUMN lock_level INTEGER NOT NULL DEFAULT 0 CHECK (lock_level >= 0);
        ALTER TABLE users ADD COLUMN locked_until INTEGER;
        ALTER TABLE users ADD COLUMN last_failed_login_at INTEGER;
        ALTER TABLE users ADD COLUMN frozen_at INTEGER;
        ALTER TABLE users ADD COLUMN frozen_by TEXT;
        ALTER TABLE users ADD COLUMN unfreeze_available_at INTEGER;
        ALTER TABLE users ADD COLUMN last_activity_at INTEGER;

        ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
        ALTER TABLE sessions ADD COLUMN country TEXT;
        ALTER TABLE sessions ADD COLUMN user_agent TEXT;
        ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;

        CREATE TABLE recovery_codes (
            user_id TEXT NOT NULL REFERENCES users(id),
            position INTEGER NOT NULL CHECK (position BETWEEN 0 AND 99),
            code_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            used_at INTEGER,
            PRIMARY KEY (user_id, position)
        ) WITHOUT ROWID;

        CREATE TABLE known_devices (
            user_id TEXT NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL CHECK (kind IN ('device', 'country')),
            value TEXT NOT NULL,
            first_seen_at INTEGER NOT NULL,
            last_seen_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, kind, value)
        ) WITHOUT ROWID;

        CREATE TABLE rate_windows (
            key TEXT PRIMARY KEY NOT NULL,
            window_start INTEGER NOT NULL,
            current_count INTEGER NOT NULL CHECK (current_count >= 0),
            previous_count INTEGER NOT NULL CHECK (previous_count >= 0)
        ) WITHOUT ROWID;

        CREATE TABLE one_time_tokens (
            token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
            purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verification_code')),
            user_id TEXT NOT NULL REFERENCES users(id),
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at INTEGER
        );
        CREATE INDEX one_time_tokens_by_user ON one_time_tokens(user_id, purpose);

        CREATE TABLE notifications (
            id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            category TEXT NOT NULL CHECK (category IN ('security', 'transaction', 'support')),
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            read_at INTEGER
        );
        CREATE INDEX notifications_by_user ON notifications(user_id, created_at);

        CREATE TABLE notification_deliveries (
            id TEXT PRIMARY KEY NOT NULL,
            notification_id TEXT NOT NULL REFERENCES notifications(id),
            endpoint TEXT NOT NULL,
            secret BLOB,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at INTEGER NOT NULL,
            last_error TEXT,
            delivered_at INTEGER
        );
        CREATE INDEX notification_deliveries_due ON notification_deliveries(next_attempt_at) WHERE state = 'pending';

        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target_user_id TEXT,
            source_address TEXT,
            details TEXT NOT NULL
        );
        CREATE INDEX audit_by_user ON audit_log(target_user_id, seq);
        CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
        CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

        -- Operators gain the risk role: SQLite changes a CHECK by rebuilding the table.
        CREATE TABLE operators_new (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'risk', 'auditor')),
            token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        INSERT INTO operators_new SELECT id, name, role, token_hash, created_at, revoked_at FROM operators;
        DROP TABLE operators;
        ALTER TABLE operators_new RENAME TO operators;
        """
}
