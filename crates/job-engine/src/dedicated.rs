//! A database connection one of a worker's loops keeps across statements (the claim loop,
//! the completer, the checkpoint writer).
//!
//! Their statements then skip the pool's checkout, and the round trip sqlx makes to test
//! a pooled connection before handing it out (half of the round trips of a loop that
//! runs one statement per checkout, and part of every idle claim's latency). They also
//! run on the same server process, whose caches and plans stay warm. A statement that
//! fails discards the connection; the next use opens another.
//!
//! The claim loop keeps its connection outside the pool (one more than the pool's
//! maximum per worker), so that workers sharing a pool cannot starve each other of
//! connections; the others keep theirs only while they have work queued.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use super::error::QueueError;

enum Held {
    None,
    Pooled(PoolConnection<Postgres>),
    Detached(PgConnection),
}

/// A connection kept across statements, opened on first use.
pub(crate) struct Dedicated {
    pool: PgPool,
    held: Held,
    detach: bool,
    operation: &'static str,
}

impl Dedicated {
    /// A connection of `pool`, kept until [`Dedicated::release`], for the loop doing
    /// `operation` (named in errors).
    pub fn pooled(pool: PgPool, operation: &'static str) -> Self {
        Self {
            pool,
            held: Held::None,
            detach: false,
            operation,
        }
    }

    /// A connection opened by `pool` and detached from it: it does not count against the
    /// pool's maximum, and closes when dropped.
    pub fn detached(pool: PgPool, operation: &'static str) -> Self {
        Self {
            detach: true,
            ..Self::pooled(pool, operation)
        }
    }

    /// The connection, opened if there is none.
    ///
    /// # Errors
    /// [`QueueError::Database`] when no connection can be had.
    pub async fn get(&mut self) -> Result<&mut PgConnection, QueueError> {
        if matches!(self.held, Held::None) {
            let conn = self
                .pool
                .acquire()
                .await
                .map_err(QueueError::db(self.operation))?;
            self.held = if self.detach {
                Held::Detached(conn.detach())
            } else {
                Held::Pooled(conn)
            };
        }
        match &mut self.held {
            Held::Pooled(conn) => Ok(&mut **conn),
            Held::Detached(conn) => Ok(conn),
            Held::None => Err(QueueError::Stopped),
        }
    }

    /// Returns a pooled connection to the pool (a detached one is kept): the loop has
    /// nothing more to do for now.
    pub fn release(&mut self) {
        if matches!(self.held, Held::Pooled(_)) {
            self.held = Held::None;
        }
    }

    /// Drops the connection after a failure: it may be broken.
    pub fn discard(&mut self) {
        self.held = Held::None;
    }
}
