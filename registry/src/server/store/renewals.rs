//! Subscription periods and refunds after renewal (issue 21 gap 4), and the lock that makes
//! purchases one at a time across servers sharing a database (gap 5): [`RenewalStore`], for
//! both backends. The rule is `market::subscription_span` (see
//! `docs/marketplace.md`): a subscription's entitlement covers exactly the periods of its
//! charges that are not refunded in full, laid end to end.
//!
//! Table `sale_periods` (SQLite schema 7, PostgreSQL schema 8): `sale` (a subscription
//! charge's id), `seconds` (the period it bought). A subscription charge recorded before the
//! table existed has no row and counts as one period of the plugin's current subscription
//! pricing.

use rusqlite::params;

use super::market::RefundRecord;
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use crate::error::ServerError;
use crate::market::{subscription_span, PaidPeriod};

/// Subscription periods, and refunds that shorten a renewed subscription.
pub trait RenewalStore {
    /// Records that subscription charge `sale` bought `seconds` of access.
    fn record_period(&self, sale: &str, seconds: i64) -> Result<(), ServerError>;
    /// Records refund `r` (in full) of a subscription charge of `account` for `plugin`, and
    /// in the same transaction sets the account's subscription entitlement to what the
    /// charges still paid for cover (`market::subscription_span`; a charge without a recorded
    /// period counts `fallback_seconds`), or ends it when none is left. Returns the span
    /// (begins, ends) left.
    fn refund_subscription(
        &self,
        r: &RefundRecord,
        account: &str,
        plugin: &str,
        fallback_seconds: i64,
    ) -> Result<Option<(i64, i64)>, ServerError>;
    /// Takes the database's lock on `account`'s purchases, trials and refunds of `plugin`,
    /// held until the returned guard is dropped: what the account has is read, the provider
    /// charged and the sale recorded under it, so servers sharing one database make one
    /// such change at a time (issue 21 gap 5). PostgreSQL: a transaction-level advisory lock
    /// (`pg_advisory_xact_lock`) in a transaction of its own connection, kept open until the
    /// guard drops (then rolled back: it writes nothing; a broken connection releases it).
    /// SQLite: nothing (one server per data directory; its process lock serves).
    fn purchase_lock<'a>(
        &'a self,
        account: &str,
        plugin: &str,
    ) -> Result<Box<dyn Send + 'a>, ServerError>;
}

/// The charges of `account` for `plugin` not refunded in full, with their periods.
const PAID_SQL: &str = "SELECT s.id, s.at, p.seconds FROM sales s \
    LEFT JOIN sale_periods p ON p.sale = s.id \
    WHERE s.buyer = $1 AND s.plugin = $2 \
    AND s.amount > coalesce((SELECT sum(r.amount) FROM refunds r WHERE r.sale = s.id), 0)";

fn span(rows: Vec<(String, i64, Option<i64>)>, fallback: i64) -> Option<(i64, i64, String)> {
    let periods: Vec<PaidPeriod> = rows
        .into_iter()
        .map(|(sale, at, seconds)| PaidPeriod {
            sale,
            at,
            seconds: seconds.unwrap_or(fallback),
        })
        .collect();
    subscription_span(&periods)
}

impl RenewalStore for SqliteStore {
    fn purchase_lock<'a>(
        &'a self,
        _account: &str,
        _plugin: &str,
    ) -> Result<Box<dyn Send + 'a>, ServerError> {
        Ok(Box::new(()))
    }

    fn record_period(&self, sale: &str, seconds: i64) -> Result<(), ServerError> {
        self.conn()
            .execute(
                "INSERT INTO sale_periods (sale, seconds) VALUES (?1, ?2) \
                 ON CONFLICT (sale) DO NOTHING",
                params![sale, seconds],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn refund_subscription(
        &self,
        r: &RefundRecord,
        account: &str,
        plugin: &str,
        fallback_seconds: i64,
    ) -> Result<Option<(i64, i64)>, ServerError> {
        let mut conn = self.conn();
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<Option<(i64, i64)>> {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO refunds (sale, day, amount, currency, at, by_account) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.sale, r.day, r.amount, r.currency, r.at, r.by],
            )?;
            let rows: Vec<(String, i64, Option<i64>)> = {
                let mut stmt = tx.prepare(&PAID_SQL.replace('$', "?"))?;
                let rows = stmt
                    .query_map(params![account, plugin], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                rows
            };
            let left = span(rows, fallback_seconds);
            match &left {
                Some((since, expires, sale)) => tx.execute(
                    "UPDATE entitlements SET since = ?3, expires = ?4, sale = ?5 \
                     WHERE account = ?1 AND plugin = ?2 AND kind = 'subscription'",
                    params![account, plugin, since, expires, sale],
                )?,
                None => tx.execute(
                    "DELETE FROM entitlements \
                     WHERE account = ?1 AND plugin = ?2 AND kind = 'subscription'",
                    params![account, plugin],
                )?,
            };
            tx.commit()?;
            Ok(left.map(|(since, expires, _)| (since, expires)))
        };
        run(&mut conn).map_err(|e| self.error(&e))
    }
}

/// A held purchase lock on PostgreSQL: its connection, in the transaction holding it.
struct PgPurchaseLock<'a> {
    client: super::postgres::Pooled<'a>,
}

impl Drop for PgPurchaseLock<'_> {
    fn drop(&mut self) {
        // Ends the transaction, releasing the lock. Should it fail, the connection is broken,
        // and PostgreSQL releases the locks of a connection that ends.
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

impl RenewalStore for PostgresStore {
    fn purchase_lock<'a>(
        &'a self,
        account: &str,
        plugin: &str,
    ) -> Result<Box<dyn Send + 'a>, ServerError> {
        let mut client = self.client()?;
        client.batch_execute("BEGIN").map_err(|e| self.error(&e))?;
        let mut held = PgPurchaseLock { client };
        held.client
            .execute(
                "SELECT pg_advisory_xact_lock(hashtext('switchboard.purchase'), \
                 hashtext($1 || E'\\n' || $2))",
                &[&account, &plugin],
            )
            .map_err(|e| self.error(&e))?;
        Ok(Box::new(held))
    }

    fn record_period(&self, sale: &str, seconds: i64) -> Result<(), ServerError> {
        self.client()?
            .execute(
                "INSERT INTO sale_periods (sale, seconds) VALUES ($1, $2) \
                 ON CONFLICT (sale) DO NOTHING",
                &[&sale, &seconds],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn refund_subscription(
        &self,
        r: &RefundRecord,
        account: &str,
        plugin: &str,
        fallback_seconds: i64,
    ) -> Result<Option<(i64, i64)>, ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut postgres::Client| -> Result<Option<(i64, i64)>, postgres::Error> {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO refunds (sale, day, amount, currency, at, by_account) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&r.sale, &r.day, &r.amount, &r.currency, &r.at, &r.by],
            )?;
            let rows = tx
                .query(PAID_SQL, &[&account, &plugin])?
                .iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect();
            let left = span(rows, fallback_seconds);
            match &left {
                Some((since, expires, sale)) => tx.execute(
                    "UPDATE entitlements SET since = $3, expires = $4, sale = $5 \
                     WHERE account = $1 AND plugin = $2 AND kind = 'subscription'",
                    &[&account, &plugin, since, expires, sale],
                )?,
                None => tx.execute(
                    "DELETE FROM entitlements \
                     WHERE account = $1 AND plugin = $2 AND kind = 'subscription'",
                    &[&account, &plugin],
                )?,
            };
            tx.commit()?;
            Ok(left.map(|(since, expires, _)| (since, expires)))
        };
        run(&mut client).map_err(|e| self.error(&e))
    }
}

/// The SQLite table (in `sqlite::SCHEMA`, each start: `CREATE … IF NOT EXISTS`).
pub(super) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sale_periods (
    sale        TEXT PRIMARY KEY,
    seconds     INTEGER NOT NULL
);
";

/// The PostgreSQL migration that adds it (schema 8).
pub(super) const POSTGRES_MIGRATION: &str = "
CREATE TABLE sale_periods (
    sale        TEXT PRIMARY KEY,
    seconds     BIGINT NOT NULL
);
";
