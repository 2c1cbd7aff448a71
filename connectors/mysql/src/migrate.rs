//! The schema migrations (`migrations/*.sql`), serialised across instances by a lock that holds
//! on MariaDB too.
//!
//! sqlx's migrator locks with `GET_LOCK(name, -1)` and ignores the answer. MySQL reads -1 as
//! "wait forever"; MariaDB answers NULL at once without the lock. Two sink instances starting
//! together then both apply migration 1, and one dies on "partially applied". So the migrator
//! runs on a one-connection pool whose session first takes a lock with a positive timeout and
//! checks the answer; closing the pool ends that session, which releases the lock whatever
//! happened in between. (A pool rather than a bare connection: `Migrator::run` on
//! `&mut MySqlConnection` makes the caller's future not `Send`.)

use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use techpotli_runtime::sink::SinkError;

use crate::store::classify;

/// The versioned migrations in `connectors/mysql/migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long an instance waits for another one's migrations before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Brings the database at `database_url` to the latest migration; safe to call from many
/// instances at once (one applies, the others wait for it and find nothing to do).
pub async fn run(database_url: &str) -> Result<(), SinkError> {
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .map_err(classify)?;
    let result = locked(&pool).await;
    // Ends the one session, which releases the lock even when the migrations failed.
    pool.close().await;
    result
}

/// Locks in the pool's only session, then migrates in that same session.
async fn locked(pool: &MySqlPool) -> Result<(), SinkError> {
    // Lock names are limited to 64 characters; database names alone may be that long.
    let got: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('techpotli-migrate:', MD5(DATABASE())), ?)")
            .bind(LOCK_WAIT.as_secs())
            .fetch_one(pool)
            .await
            .map_err(classify)?;
    if got != Some(1) {
        return Err(SinkError::Transient(format!(
            "another instance held the migration lock for {} s",
            LOCK_WAIT.as_secs()
        )));
    }
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| SinkError::Fatal(format!("migrations: {e}")))
}
