//! The marketplace's storage (SPEC S9.8): each plugin's price, purchases (the ledger's
//! sales) and the entitlements they give, refunds, revenue-share rates with their effective
//! dates, payout thresholds, disputes, and downloads per day — behind [`MarketStore`], a
//! supertrait of [`Store`](super::Store), implemented for SQLite and PostgreSQL alike.
//!
//! The rules (what a price may be, what a report says) are `crate::market`'s; the server's
//! `market` module decides who may do what. A store only keeps rows, and makes each change
//! that must not race one atomic step: a sale with its entitlement, a first trial, a
//! dispute's resolution.
//!
//! Dates are `YYYY-MM-DD` text (the ledger's), instants Unix seconds, amounts integer minor
//! units with their currency beside them.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use crate::error::ServerError;

/// The SQLite tables (added to the schema as `CREATE TABLE IF NOT EXISTS`, schema 3).
pub(super) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pricing (
    plugin      TEXT PRIMARY KEY,
    pricing     TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sales (
    id          TEXT PRIMARY KEY,
    buyer       TEXT NOT NULL,
    publisher   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    day         TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    reference   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_publisher ON sales (publisher, day);
CREATE TABLE IF NOT EXISTS entitlements (
    account     TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    since       INTEGER NOT NULL,
    expires     INTEGER,
    sale        TEXT,
    PRIMARY KEY (account, plugin)
);
CREATE TABLE IF NOT EXISTS trials (
    account     TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (account, plugin)
);
CREATE TABLE IF NOT EXISTS refunds (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    sale        TEXT NOT NULL,
    day         TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    by_account  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fee_rates (
    publisher   TEXT NOT NULL,
    day         TEXT NOT NULL,
    basis_points INTEGER NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      INTEGER NOT NULL,
    PRIMARY KEY (publisher, day)
);
CREATE TABLE IF NOT EXISTS payout_thresholds (
    currency    TEXT PRIMARY KEY,
    amount      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS disputes (
    id          TEXT PRIMARY KEY,
    publisher   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    opened      TEXT NOT NULL,
    resolved    TEXT,
    adjustment  INTEGER,
    currency    TEXT,
    note        TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    resolved_by TEXT
);
CREATE TABLE IF NOT EXISTS downloads_daily (
    plugin      TEXT NOT NULL,
    day         TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (plugin, day)
);
";

/// The PostgreSQL migration adding the same tables (version 2).
pub(super) const POSTGRES_MIGRATION: &str = "
CREATE TABLE pricing (
    plugin      TEXT PRIMARY KEY,
    pricing     TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      BIGINT NOT NULL
);
CREATE TABLE sales (
    id          TEXT PRIMARY KEY,
    buyer       TEXT NOT NULL,
    publisher   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    day         TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    reference   TEXT NOT NULL
);
CREATE INDEX sales_publisher ON sales (publisher, day);
CREATE TABLE entitlements (
    account     TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    since       BIGINT NOT NULL,
    expires     BIGINT,
    sale        TEXT,
    PRIMARY KEY (account, plugin)
);
CREATE TABLE trials (
    account     TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (account, plugin)
);
CREATE TABLE refunds (
    seq         BIGSERIAL PRIMARY KEY,
    sale        TEXT NOT NULL,
    day         TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    by_account  TEXT NOT NULL
);
CREATE TABLE fee_rates (
    publisher   TEXT NOT NULL,
    day         TEXT NOT NULL,
    basis_points BIGINT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      BIGINT NOT NULL,
    PRIMARY KEY (publisher, day)
);
CREATE TABLE payout_thresholds (
    currency    TEXT PRIMARY KEY,
    amount      BIGINT NOT NULL
);
CREATE TABLE disputes (
    id          TEXT PRIMARY KEY,
    publisher   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    opened      TEXT NOT NULL,
    resolved    TEXT,
    adjustment  BIGINT,
    currency    TEXT,
    note        TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    resolved_by TEXT
);
CREATE TABLE downloads_daily (
    plugin      TEXT NOT NULL,
    day         TEXT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (plugin, day)
);
";

/// One sale as stored: a purchase or a subscription charge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaleRecord {
    /// Its id (`sale-…`).
    pub id: String,
    /// The account that paid.
    pub buyer: String,
    /// The publisher paid (the plugin's first owner when sold).
    pub publisher: String,
    /// The plugin.
    pub plugin: String,
    /// The day of the sale (`YYYY-MM-DD`, UTC).
    pub day: String,
    /// What was paid, in minor units of `currency`.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Unix seconds.
    pub at: i64,
    /// The payment provider's reference.
    pub reference: String,
}

/// What an account may download: a plugin, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntitlementRecord {
    /// The account.
    pub account: String,
    /// The plugin.
    pub plugin: String,
    /// `purchase` (no expiry), `subscription` or `trial`.
    pub kind: String,
    /// Unix seconds when it began.
    pub since: i64,
    /// Unix seconds when it ends (`None`: never).
    pub expires: Option<i64>,
    /// The sale that gave it (none for a trial).
    pub sale: Option<String>,
}

impl EntitlementRecord {
    /// Whether it lets its account download at `now` (Unix seconds).
    pub fn active_at(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// A refund as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefundRecord {
    /// The sale refunded.
    pub sale: String,
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Minor units given back.
    pub amount: i64,
    /// The sale's currency.
    pub currency: String,
    /// Unix seconds.
    pub at: i64,
    /// Who refunded it (an admin).
    pub by: String,
}

/// A revenue-share rate as stored: `publisher` empty for the default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateRecord {
    /// The publisher it overrides for; empty for everyone's default.
    pub publisher: String,
    /// The first day it applies (`YYYY-MM-DD`).
    pub day: String,
    /// The fee in basis points.
    pub basis_points: i64,
}

/// A dispute as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DisputeRecord {
    /// Its id (`dispute-…`).
    pub id: String,
    /// The publisher who opened it.
    pub publisher: String,
    /// About which plugin.
    pub plugin: String,
    /// The day it was opened.
    pub opened: String,
    /// The day it was resolved.
    pub resolved: Option<String>,
    /// The adjustment the resolution pays (minor units; negative: owed by the publisher).
    pub adjustment: Option<i64>,
    /// The adjustment's currency.
    pub currency: Option<String>,
    /// The publisher's words, then the resolution's.
    pub note: String,
    /// Unix seconds when it was opened.
    pub opened_at: i64,
    /// The admin who resolved it.
    pub resolved_by: Option<String>,
}

/// The marketplace's rows. Every method is one blocking call and each change is atomic.
pub trait MarketStore {
    /// Sets the pricing (its JSON, checked by the caller) of `plugin`.
    fn set_pricing(
        &self,
        plugin: &str,
        pricing: &str,
        by: &str,
        at: i64,
    ) -> Result<(), ServerError>;
    /// The pricing JSON of `plugin`, if one was set.
    fn pricing(&self, plugin: &str) -> Result<Option<String>, ServerError>;
    /// Every plugin's pricing JSON.
    fn pricings(&self) -> Result<HashMap<String, String>, ServerError>;

    /// Records `sale` and the entitlement it gives, in one transaction (the entitlement
    /// replaces the account's earlier one of the plugin).
    fn record_sale(
        &self,
        sale: &SaleRecord,
        entitlement: &EntitlementRecord,
    ) -> Result<(), ServerError>;
    /// Starts a trial: records it and its entitlement unless the account had a trial of the
    /// plugin before, atomically. Returns whether it did.
    fn start_trial(&self, entitlement: &EntitlementRecord) -> Result<bool, ServerError>;
    /// The entitlement of `account` to `plugin`, active or not.
    fn entitlement(
        &self,
        account: &str,
        plugin: &str,
    ) -> Result<Option<EntitlementRecord>, ServerError>;
    /// Every entitlement of `account`, by plugin.
    fn entitlements(&self, account: &str) -> Result<Vec<EntitlementRecord>, ServerError>;
    /// The sale `id`.
    fn sale(&self, id: &str) -> Result<Option<SaleRecord>, ServerError>;
    /// Every sale, oldest first.
    fn sales(&self) -> Result<Vec<SaleRecord>, ServerError>;

    /// Records a refund; with `revoke`, ends the buyer's entitlement that sale gave, in the
    /// same transaction.
    fn add_refund(&self, refund: &RefundRecord, revoke: bool) -> Result<(), ServerError>;
    /// Every refund, in the order made.
    fn refunds(&self) -> Result<Vec<RefundRecord>, ServerError>;

    /// Sets a revenue-share rate (replacing one of the same publisher and day).
    fn set_rate(&self, rate: &RateRecord, by: &str, at: i64) -> Result<(), ServerError>;
    /// Every rate.
    fn rates(&self) -> Result<Vec<RateRecord>, ServerError>;
    /// Sets the payout threshold of `currency`.
    fn set_threshold(&self, currency: &str, amount: i64) -> Result<(), ServerError>;
    /// Every threshold: currency and amount.
    fn thresholds(&self) -> Result<Vec<(String, i64)>, ServerError>;

    /// Records a new dispute.
    fn insert_dispute(&self, dispute: &DisputeRecord) -> Result<(), ServerError>;
    /// Resolves dispute `id` unless it is resolved already, atomically; returns whether it did.
    fn resolve_dispute(
        &self,
        id: &str,
        day: &str,
        adjustment: Option<(i64, &str)>,
        note: &str,
        by: &str,
    ) -> Result<bool, ServerError>;
    /// The dispute `id`.
    fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>, ServerError>;
    /// Every dispute, oldest first.
    fn disputes(&self) -> Result<Vec<DisputeRecord>, ServerError>;

    /// Adds one download of `plugin` on `day`.
    fn count_daily(&self, plugin: &str, day: &str) -> Result<(), ServerError>;
    /// The downloads of `plugin` per day from `since` on (days without any are absent).
    fn daily_counts(&self, plugin: &str, since: &str) -> Result<Vec<(String, u64)>, ServerError>;
}

const SALE_COLUMNS: &str = "id, buyer, publisher, plugin, day, amount, currency, at, reference";
const ENTITLEMENT_COLUMNS: &str = "account, plugin, kind, since, expires, sale";
const DISPUTE_COLUMNS: &str = "id, publisher, plugin, opened, resolved, adjustment, currency, \
                               note, opened_at, resolved_by";

fn sqlite_sale(r: &rusqlite::Row<'_>) -> rusqlite::Result<SaleRecord> {
    Ok(SaleRecord {
        id: r.get(0)?,
        buyer: r.get(1)?,
        publisher: r.get(2)?,
        plugin: r.get(3)?,
        day: r.get(4)?,
        amount: r.get(5)?,
        currency: r.get(6)?,
        at: r.get(7)?,
        reference: r.get(8)?,
    })
}

fn sqlite_entitlement(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntitlementRecord> {
    Ok(EntitlementRecord {
        account: r.get(0)?,
        plugin: r.get(1)?,
        kind: r.get(2)?,
        since: r.get(3)?,
        expires: r.get(4)?,
        sale: r.get(5)?,
    })
}

fn sqlite_dispute(r: &rusqlite::Row<'_>) -> rusqlite::Result<DisputeRecord> {
    Ok(DisputeRecord {
        id: r.get(0)?,
        publisher: r.get(1)?,
        plugin: r.get(2)?,
        opened: r.get(3)?,
        resolved: r.get(4)?,
        adjustment: r.get(5)?,
        currency: r.get(6)?,
        note: r.get(7)?,
        opened_at: r.get(8)?,
        resolved_by: r.get(9)?,
    })
}

impl SqliteStore {
    fn all<T>(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(|e| self.error(&e))?;
        let out = stmt
            .query_map(args, row)
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        out
    }

    fn run(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<usize, ServerError> {
        self.conn().execute(sql, args).map_err(|e| self.error(&e))
    }
}

impl MarketStore for SqliteStore {
    fn set_pricing(
        &self,
        plugin: &str,
        pricing: &str,
        by: &str,
        at: i64,
    ) -> Result<(), ServerError> {
        self.run(
            "INSERT INTO pricing (plugin, pricing, set_by, set_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (plugin) DO UPDATE SET pricing = excluded.pricing, \
             set_by = excluded.set_by, set_at = excluded.set_at",
            params![plugin, pricing, by, at],
        )
        .map(|_| ())
    }

    fn pricing(&self, plugin: &str) -> Result<Option<String>, ServerError> {
        self.conn()
            .query_row(
                "SELECT pricing FROM pricing WHERE plugin = ?1",
                params![plugin],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn pricings(&self) -> Result<HashMap<String, String>, ServerError> {
        Ok(self
            .all("SELECT plugin, pricing FROM pricing", &[], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .into_iter()
            .collect())
    }

    fn record_sale(&self, s: &SaleRecord, e: &EntitlementRecord) -> Result<(), ServerError> {
        let mut conn = self.conn();
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute(
                &format!("INSERT INTO sales ({SALE_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"),
                params![
                    s.id,
                    s.buyer,
                    s.publisher,
                    s.plugin,
                    s.day,
                    s.amount,
                    s.currency,
                    s.at,
                    s.reference
                ],
            )?;
            upsert_entitlement_sqlite(&tx, e)?;
            tx.commit()
        };
        run(&mut conn).map_err(|err| self.error(&err))
    }

    fn start_trial(&self, e: &EntitlementRecord) -> Result<bool, ServerError> {
        let mut conn = self.conn();
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<bool> {
            let tx = conn.transaction()?;
            let n = tx.execute(
                "INSERT INTO trials (account, plugin, at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, plugin) DO NOTHING",
                params![e.account, e.plugin, e.since],
            )?;
            if n == 0 {
                return Ok(false);
            }
            upsert_entitlement_sqlite(&tx, e)?;
            tx.commit()?;
            Ok(true)
        };
        run(&mut conn).map_err(|err| self.error(&err))
    }

    fn entitlement(
        &self,
        account: &str,
        plugin: &str,
    ) -> Result<Option<EntitlementRecord>, ServerError> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements \
                     WHERE account = ?1 AND plugin = ?2"
                ),
                params![account, plugin],
                sqlite_entitlement,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn entitlements(&self, account: &str) -> Result<Vec<EntitlementRecord>, ServerError> {
        self.all(
            &format!(
                "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE account = ?1 ORDER BY plugin"
            ),
            params![account],
            sqlite_entitlement,
        )
    }

    fn sale(&self, id: &str) -> Result<Option<SaleRecord>, ServerError> {
        self.conn()
            .query_row(
                &format!("SELECT {SALE_COLUMNS} FROM sales WHERE id = ?1"),
                params![id],
                sqlite_sale,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn sales(&self) -> Result<Vec<SaleRecord>, ServerError> {
        self.all(
            &format!("SELECT {SALE_COLUMNS} FROM sales ORDER BY at, id"),
            &[],
            sqlite_sale,
        )
    }

    fn add_refund(&self, r: &RefundRecord, revoke: bool) -> Result<(), ServerError> {
        let mut conn = self.conn();
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO refunds (sale, day, amount, currency, at, by_account) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.sale, r.day, r.amount, r.currency, r.at, r.by],
            )?;
            if revoke {
                tx.execute("DELETE FROM entitlements WHERE sale = ?1", params![r.sale])?;
            }
            tx.commit()
        };
        run(&mut conn).map_err(|err| self.error(&err))
    }

    fn refunds(&self) -> Result<Vec<RefundRecord>, ServerError> {
        self.all(
            "SELECT sale, day, amount, currency, at, by_account FROM refunds ORDER BY seq",
            &[],
            |r| {
                Ok(RefundRecord {
                    sale: r.get(0)?,
                    day: r.get(1)?,
                    amount: r.get(2)?,
                    currency: r.get(3)?,
                    at: r.get(4)?,
                    by: r.get(5)?,
                })
            },
        )
    }

    fn set_rate(&self, rate: &RateRecord, by: &str, at: i64) -> Result<(), ServerError> {
        self.run(
            "INSERT INTO fee_rates (publisher, day, basis_points, set_by, set_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (publisher, day) DO UPDATE SET \
             basis_points = excluded.basis_points, set_by = excluded.set_by, \
             set_at = excluded.set_at",
            params![rate.publisher, rate.day, rate.basis_points, by, at],
        )
        .map(|_| ())
    }

    fn rates(&self) -> Result<Vec<RateRecord>, ServerError> {
        self.all(
            "SELECT publisher, day, basis_points FROM fee_rates ORDER BY publisher, day",
            &[],
            |r| {
                Ok(RateRecord {
                    publisher: r.get(0)?,
                    day: r.get(1)?,
                    basis_points: r.get(2)?,
                })
            },
        )
    }

    fn set_threshold(&self, currency: &str, amount: i64) -> Result<(), ServerError> {
        self.run(
            "INSERT INTO payout_thresholds (currency, amount) VALUES (?1, ?2) \
             ON CONFLICT (currency) DO UPDATE SET amount = excluded.amount",
            params![currency, amount],
        )
        .map(|_| ())
    }

    fn thresholds(&self) -> Result<Vec<(String, i64)>, ServerError> {
        self.all(
            "SELECT currency, amount FROM payout_thresholds ORDER BY currency",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn insert_dispute(&self, d: &DisputeRecord) -> Result<(), ServerError> {
        self.run(
            &format!(
                "INSERT INTO disputes ({DISPUTE_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
            ),
            params![
                d.id,
                d.publisher,
                d.plugin,
                d.opened,
                d.resolved,
                d.adjustment,
                d.currency,
                d.note,
                d.opened_at,
                d.resolved_by
            ],
        )
        .map(|_| ())
    }

    fn resolve_dispute(
        &self,
        id: &str,
        day: &str,
        adjustment: Option<(i64, &str)>,
        note: &str,
        by: &str,
    ) -> Result<bool, ServerError> {
        let n = self.run(
            "UPDATE disputes SET resolved = ?1, adjustment = ?2, currency = ?3, note = ?4, \
             resolved_by = ?5 WHERE id = ?6 AND resolved IS NULL",
            params![
                day,
                adjustment.map(|a| a.0),
                adjustment.map(|a| a.1),
                note,
                by,
                id
            ],
        )?;
        Ok(n == 1)
    }

    fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>, ServerError> {
        self.conn()
            .query_row(
                &format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE id = ?1"),
                params![id],
                sqlite_dispute,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn disputes(&self) -> Result<Vec<DisputeRecord>, ServerError> {
        self.all(
            &format!("SELECT {DISPUTE_COLUMNS} FROM disputes ORDER BY opened_at, id"),
            &[],
            sqlite_dispute,
        )
    }

    fn count_daily(&self, plugin: &str, day: &str) -> Result<(), ServerError> {
        self.run(
            "INSERT INTO downloads_daily (plugin, day, count) VALUES (?1, ?2, 1) \
             ON CONFLICT (plugin, day) DO UPDATE SET count = downloads_daily.count + 1",
            params![plugin, day],
        )
        .map(|_| ())
    }

    fn daily_counts(&self, plugin: &str, since: &str) -> Result<Vec<(String, u64)>, ServerError> {
        self.all(
            "SELECT day, count FROM downloads_daily WHERE plugin = ?1 AND day >= ?2 ORDER BY day",
            params![plugin, since],
            |r| Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))),
        )
    }
}

fn upsert_entitlement_sqlite(
    tx: &rusqlite::Transaction<'_>,
    e: &EntitlementRecord,
) -> rusqlite::Result<usize> {
    tx.execute(
        &format!(
            "INSERT INTO entitlements ({ENTITLEMENT_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6) \
             ON CONFLICT (account, plugin) DO UPDATE SET kind = excluded.kind, \
             since = excluded.since, expires = excluded.expires, sale = excluded.sale"
        ),
        params![e.account, e.plugin, e.kind, e.since, e.expires, e.sale],
    )
}

fn pg_sale(r: &postgres::Row) -> SaleRecord {
    SaleRecord {
        id: r.get(0),
        buyer: r.get(1),
        publisher: r.get(2),
        plugin: r.get(3),
        day: r.get(4),
        amount: r.get(5),
        currency: r.get(6),
        at: r.get(7),
        reference: r.get(8),
    }
}

fn pg_entitlement(r: &postgres::Row) -> EntitlementRecord {
    EntitlementRecord {
        account: r.get(0),
        plugin: r.get(1),
        kind: r.get(2),
        since: r.get(3),
        expires: r.get(4),
        sale: r.get(5),
    }
}

fn pg_dispute(r: &postgres::Row) -> DisputeRecord {
    DisputeRecord {
        id: r.get(0),
        publisher: r.get(1),
        plugin: r.get(2),
        opened: r.get(3),
        resolved: r.get(4),
        adjustment: r.get(5),
        currency: r.get(6),
        note: r.get(7),
        opened_at: r.get(8),
        resolved_by: r.get(9),
    }
}

fn upsert_entitlement_pg(
    tx: &mut postgres::Transaction<'_>,
    e: &EntitlementRecord,
) -> Result<u64, postgres::Error> {
    tx.execute(
        &format!(
            "INSERT INTO entitlements ({ENTITLEMENT_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (account, plugin) DO UPDATE SET kind = excluded.kind, \
             since = excluded.since, expires = excluded.expires, sale = excluded.sale"
        ),
        &[
            &e.account, &e.plugin, &e.kind, &e.since, &e.expires, &e.sale,
        ],
    )
}

impl PostgresStore {
    fn rows(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, ServerError> {
        self.client()?.query(sql, args).map_err(|e| self.error(&e))
    }

    fn exec(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, ServerError> {
        self.client()?
            .execute(sql, args)
            .map_err(|e| self.error(&e))
    }

    fn in_tx<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut postgres::Client| -> Result<T, postgres::Error> {
            let mut tx = client.transaction()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut client).map_err(|e| self.error(&e))
    }
}

impl MarketStore for PostgresStore {
    fn set_pricing(
        &self,
        plugin: &str,
        pricing: &str,
        by: &str,
        at: i64,
    ) -> Result<(), ServerError> {
        self.exec(
            "INSERT INTO pricing (plugin, pricing, set_by, set_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (plugin) DO UPDATE SET pricing = excluded.pricing, \
             set_by = excluded.set_by, set_at = excluded.set_at",
            &[&plugin, &pricing, &by, &at],
        )
        .map(|_| ())
    }

    fn pricing(&self, plugin: &str) -> Result<Option<String>, ServerError> {
        Ok(self
            .rows("SELECT pricing FROM pricing WHERE plugin = $1", &[&plugin])?
            .first()
            .map(|r| r.get(0)))
    }

    fn pricings(&self) -> Result<HashMap<String, String>, ServerError> {
        Ok(self
            .rows("SELECT plugin, pricing FROM pricing", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn record_sale(&self, s: &SaleRecord, e: &EntitlementRecord) -> Result<(), ServerError> {
        self.in_tx(|tx| {
            tx.execute(
                &format!("INSERT INTO sales ({SALE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"),
                &[
                    &s.id,
                    &s.buyer,
                    &s.publisher,
                    &s.plugin,
                    &s.day,
                    &s.amount,
                    &s.currency,
                    &s.at,
                    &s.reference,
                ],
            )?;
            upsert_entitlement_pg(tx, e)?;
            Ok(())
        })
    }

    fn start_trial(&self, e: &EntitlementRecord) -> Result<bool, ServerError> {
        self.in_tx(|tx| {
            let n = tx.execute(
                "INSERT INTO trials (account, plugin, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account, plugin) DO NOTHING",
                &[&e.account, &e.plugin, &e.since],
            )?;
            if n == 0 {
                return Ok(false);
            }
            upsert_entitlement_pg(tx, e)?;
            Ok(true)
        })
    }

    fn entitlement(
        &self,
        account: &str,
        plugin: &str,
    ) -> Result<Option<EntitlementRecord>, ServerError> {
        Ok(self
            .rows(
                &format!(
                    "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements \
                     WHERE account = $1 AND plugin = $2"
                ),
                &[&account, &plugin],
            )?
            .first()
            .map(pg_entitlement))
    }

    fn entitlements(&self, account: &str) -> Result<Vec<EntitlementRecord>, ServerError> {
        Ok(self
            .rows(
                &format!(
                    "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE account = $1 \
                     ORDER BY plugin"
                ),
                &[&account],
            )?
            .iter()
            .map(pg_entitlement)
            .collect())
    }

    fn sale(&self, id: &str) -> Result<Option<SaleRecord>, ServerError> {
        Ok(self
            .rows(
                &format!("SELECT {SALE_COLUMNS} FROM sales WHERE id = $1"),
                &[&id],
            )?
            .first()
            .map(pg_sale))
    }

    fn sales(&self) -> Result<Vec<SaleRecord>, ServerError> {
        Ok(self
            .rows(
                &format!("SELECT {SALE_COLUMNS} FROM sales ORDER BY at, id"),
                &[],
            )?
            .iter()
            .map(pg_sale)
            .collect())
    }

    fn add_refund(&self, r: &RefundRecord, revoke: bool) -> Result<(), ServerError> {
        self.in_tx(|tx| {
            tx.execute(
                "INSERT INTO refunds (sale, day, amount, currency, at, by_account) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&r.sale, &r.day, &r.amount, &r.currency, &r.at, &r.by],
            )?;
            if revoke {
                tx.execute("DELETE FROM entitlements WHERE sale = $1", &[&r.sale])?;
            }
            Ok(())
        })
    }

    fn refunds(&self) -> Result<Vec<RefundRecord>, ServerError> {
        Ok(self
            .rows(
                "SELECT sale, day, amount, currency, at, by_account FROM refunds ORDER BY seq",
                &[],
            )?
            .iter()
            .map(|r| RefundRecord {
                sale: r.get(0),
                day: r.get(1),
                amount: r.get(2),
                currency: r.get(3),
                at: r.get(4),
                by: r.get(5),
            })
            .collect())
    }

    fn set_rate(&self, rate: &RateRecord, by: &str, at: i64) -> Result<(), ServerError> {
        self.exec(
            "INSERT INTO fee_rates (publisher, day, basis_points, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (publisher, day) DO UPDATE SET \
             basis_points = excluded.basis_points, set_by = excluded.set_by, \
             set_at = excluded.set_at",
            &[&rate.publisher, &rate.day, &rate.basis_points, &by, &at],
        )
        .map(|_| ())
    }

    fn rates(&self) -> Result<Vec<RateRecord>, ServerError> {
        Ok(self
            .rows(
                "SELECT publisher, day, basis_points FROM fee_rates ORDER BY publisher, day",
                &[],
            )?
            .iter()
            .map(|r| RateRecord {
                publisher: r.get(0),
                day: r.get(1),
                basis_points: r.get(2),
            })
            .collect())
    }

    fn set_threshold(&self, currency: &str, amount: i64) -> Result<(), ServerError> {
        self.exec(
            "INSERT INTO payout_thresholds (currency, amount) VALUES ($1, $2) \
             ON CONFLICT (currency) DO UPDATE SET amount = excluded.amount",
            &[&currency, &amount],
        )
        .map(|_| ())
    }

    fn thresholds(&self) -> Result<Vec<(String, i64)>, ServerError> {
        Ok(self
            .rows(
                "SELECT currency, amount FROM payout_thresholds ORDER BY currency",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn insert_dispute(&self, d: &DisputeRecord) -> Result<(), ServerError> {
        self.exec(
            &format!(
                "INSERT INTO disputes ({DISPUTE_COLUMNS}) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
            ),
            &[
                &d.id,
                &d.publisher,
                &d.plugin,
                &d.opened,
                &d.resolved,
                &d.adjustment,
                &d.currency,
                &d.note,
                &d.opened_at,
                &d.resolved_by,
            ],
        )
        .map(|_| ())
    }

    fn resolve_dispute(
        &self,
        id: &str,
        day: &str,
        adjustment: Option<(i64, &str)>,
        note: &str,
        by: &str,
    ) -> Result<bool, ServerError> {
        let n = self.exec(
            "UPDATE disputes SET resolved = $1, adjustment = $2, currency = $3, note = $4, \
             resolved_by = $5 WHERE id = $6 AND resolved IS NULL",
            &[
                &day,
                &adjustment.map(|a| a.0),
                &adjustment.map(|a| a.1),
                &note,
                &by,
                &id,
            ],
        )?;
        Ok(n == 1)
    }

    fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>, ServerError> {
        Ok(self
            .rows(
                &format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE id = $1"),
                &[&id],
            )?
            .first()
            .map(pg_dispute))
    }

    fn disputes(&self) -> Result<Vec<DisputeRecord>, ServerError> {
        Ok(self
            .rows(
                &format!("SELECT {DISPUTE_COLUMNS} FROM disputes ORDER BY opened_at, id"),
                &[],
            )?
            .iter()
            .map(pg_dispute)
            .collect())
    }

    fn count_daily(&self, plugin: &str, day: &str) -> Result<(), ServerError> {
        self.exec(
            "INSERT INTO downloads_daily (plugin, day, count) VALUES ($1, $2, 1) \
             ON CONFLICT (plugin, day) DO UPDATE SET count = downloads_daily.count + 1",
            &[&plugin, &day],
        )
        .map(|_| ())
    }

    fn daily_counts(&self, plugin: &str, since: &str) -> Result<Vec<(String, u64)>, ServerError> {
        Ok(self
            .rows(
                "SELECT day, count FROM downloads_daily WHERE plugin = $1 AND day >= $2 \
                 ORDER BY day",
                &[&plugin, &since],
            )?
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }
}
