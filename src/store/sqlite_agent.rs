//! The SQL of the agent runtime's tables (schema version 4) on the SQLite backend: the
//! [`AgentWrite`]s inside the writer's transaction, and the [`AgentReads`] on the reader
//! connection.
//!
//! Guarantees: every statement is prepared once and cached; every listing is bounded by
//! [`MAX_QUERY_LIMIT`]; a stored value that is not what this code writes (an unknown turn
//! state) is an error, never a guess. A channel turn's inbox row is only ever settled while it
//! is still unfinished and on the attempt that started the turn (a replay since wins).

use rusqlite::{Connection, OptionalExtension, params};

use super::agent::{
    AgentOutcome, AgentReads, AgentWrite, IMPORT_RUN_PREFIX, ImportedSession, InboxOutcome, InboxReply, MessageRow,
    ModelUsage, SessionRow, TurnRow, TurnState,
};
use super::sqlite::SqliteBackend;
use super::types::{MAX_QUERY_LIMIT, StoreError};

/// Unix ms (or a count) to the column type; values past `i64::MAX` saturate.
fn col(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A column back to an unsigned value; a negative one (never written by us) reads as 0.
fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn limit_col(limit: usize) -> i64 {
    i64::try_from(limit.min(MAX_QUERY_LIMIT)).unwrap_or(0)
}

/// Apply one agent write inside the writer's open transaction.
pub(super) fn apply(tx: &Connection, write: &AgentWrite, now: i64) -> rusqlite::Result<AgentOutcome> {
    match write {
        AgentWrite::StartTurn {
            session_key,
            session_id,
            agent_id,
            origin,
            run_id,
            model,
            started_ms,
            idempotency_key,
            user,
        } => {
            let started = col(*started_ms);
            if let Some(key) = idempotency_key {
                let seen: Option<String> = tx
                    .prepare_cached("SELECT run_id FROM turns WHERE session_key = ?1 AND idempotency_key = ?2")?
                    .query_row(params![session_key, key], |r| r.get(0))
                    .optional()?;
                if seen.is_some() {
                    // A repeat: store nothing (and never let the unique index fail the
                    // transaction, which would fail-stop the store).
                    return Ok(0);
                }
            }
            tx.prepare_cached(
                "INSERT INTO sessions (key, session_id, agent_id, channel, chat_id, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                 ON CONFLICT(key) DO UPDATE SET updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                session_key,
                session_id,
                agent_id,
                origin.channel,
                origin.chat_id,
                started
            ])?;
            tx.prepare_cached(
                "INSERT INTO turns (run_id, session_key, state, model, started_ms, idempotency_key) \
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
            )?
            .execute(params![run_id, session_key, model, started, idempotency_key])?;
            insert_message(tx, session_key, run_id, user, started)?;
            Ok(1)
        }
        AgentWrite::EndTurn {
            session_key,
            run_id,
            state,
            ended_ms,
            input_tokens,
            output_tokens,
            cost_usd,
            error,
            model,
            assistant,
        } => {
            let ended = col(*ended_ms);
            let changed = tx
                .prepare_cached(
                    "UPDATE turns SET state = ?1, ended_ms = ?2, input_tokens = ?3, output_tokens = ?4, \
                     cost_usd = ?5, error = ?6, model = ?7 WHERE run_id = ?8 AND state = 'running'",
                )?
                .execute(params![
                    state.as_str(),
                    ended,
                    col(*input_tokens),
                    col(*output_tokens),
                    cost_usd,
                    error,
                    model,
                    run_id
                ])?;
            if changed == 0 {
                // No running turn of that id (ended already, or its session was deleted): the
                // reply and the totals would have nothing to belong to.
                return Ok(0);
            }
            if *state == TurnState::Interrupted {
                release_interrupted(tx, session_key, run_id)?;
            }
            if let Some(m) = assistant {
                insert_message(tx, session_key, run_id, m, ended)?;
            }
            tx.prepare_cached(
                "UPDATE sessions SET input_tokens = input_tokens + ?1, output_tokens = output_tokens + ?2, \
                 cost_usd = cost_usd + ?3, turns = turns + 1, updated_ms = ?4 WHERE key = ?5",
            )?
            .execute(params![col(*input_tokens), col(*output_tokens), cost_usd, ended, session_key])?;
            Ok(changed as u64)
        }
        AgentWrite::AppendMessages { session_key, run_id, messages } => {
            let running: Option<i64> = tx
                .prepare_cached("SELECT 1 FROM turns WHERE run_id = ?1 AND session_key = ?2 AND state = 'running'")?
                .query_row(params![run_id, session_key], |r| r.get(0))
                .optional()?;
            if running.is_none() {
                return Ok(0);
            }
            for m in messages {
                insert_message(tx, session_key, run_id, m, now)?;
            }
            Ok(messages.len() as u64)
        }
        AgentWrite::PatchSession { session_key, label, model } => {
            let mut changed = 0u64;
            if let Some(label) = label {
                changed = changed.max(
                    tx.prepare_cached("UPDATE sessions SET label = ?1, updated_ms = ?2 WHERE key = ?3")?
                        .execute(params![label, now, session_key])? as u64,
                );
            }
            if let Some(model) = model {
                changed = changed.max(
                    tx.prepare_cached("UPDATE sessions SET model = ?1, updated_ms = ?2 WHERE key = ?3")?
                        .execute(params![model, now, session_key])? as u64,
                );
            }
            Ok(changed)
        }
        AgentWrite::DeleteSession { session_key } => {
            tx.prepare_cached("DELETE FROM transcript WHERE session_key = ?1")?.execute(params![session_key])?;
            tx.prepare_cached("DELETE FROM turns WHERE session_key = ?1")?.execute(params![session_key])?;
            Ok(tx.prepare_cached("DELETE FROM sessions WHERE key = ?1")?.execute(params![session_key])? as u64)
        }
        AgentWrite::EndChannelTurn { end, inbox } => {
            let changed = apply(tx, end, now)?;
            if changed > 0 {
                settle_inbox(tx, inbox, now)?;
            }
            Ok(changed)
        }
        AgentWrite::InterruptRunning { ended_ms } => {
            let running: Vec<(String, String)> = tx
                .prepare_cached("SELECT session_key, run_id FROM turns WHERE state = 'running'")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (session_key, run_id) in &running {
                tx.prepare_cached("DELETE FROM transcript WHERE session_key = ?1 AND run_id = ?2")?
                    .execute(params![session_key, run_id])?;
            }
            tx.prepare_cached(
                "UPDATE sessions SET turns = turns + (SELECT COUNT(*) FROM turns t \
                 WHERE t.session_key = sessions.key AND t.state = 'running') \
                 WHERE key IN (SELECT session_key FROM turns WHERE state = 'running')",
            )?
            .execute([])?;
            let n = tx
                .prepare_cached(
                    "UPDATE turns SET state = 'interrupted', ended_ms = ?1, \
                     error = 'interrupted: the gateway stopped while this turn ran' \
                     || COALESCE('; idempotency key ' || idempotency_key || ' released for a re-run', ''), \
                     idempotency_key = NULL WHERE state = 'running'",
                )?
                .execute(params![col(*ended_ms)])?;
            Ok(n as u64)
        }
        AgentWrite::ImportSession(import) => import_session(tx, import),
    }
}

/// An interrupted turn gives its idempotency key back (a repeat must run the turn again, and
/// the unique index would refuse the new run's row while this one held it) and leaves nothing
/// in the transcript (the re-run stores the user's message again; a half reply would only
/// confuse the model). The turn row stays, as the record.
fn release_interrupted(tx: &Connection, session_key: &str, run_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE turns SET idempotency_key = NULL WHERE run_id = ?1")?.execute(params![run_id])?;
    tx.prepare_cached("DELETE FROM transcript WHERE session_key = ?1 AND run_id = ?2")?
        .execute(params![session_key, run_id])?;
    Ok(())
}

/// The inbox side of a channel turn's end: queue the outbox rows, then settle the row.
fn settle_inbox(tx: &Connection, reply: &InboxReply, now: i64) -> rusqlite::Result<()> {
    for message in &reply.outbox {
        super::sqlite::enqueue(tx, message)?;
    }
    let unfinished = "AND attempts = ?4 AND state IN ('received', 'dispatched')";
    match &reply.outcome {
        InboxOutcome::Interrupted => {}
        InboxOutcome::Failed(why) => {
            tx.prepare_cached(&format!(
                "UPDATE inbox SET state = 'failed', error = ?1, updated_ms = ?2 WHERE id = ?3 {unfinished}"
            ))?
            .execute(params![why, now, reply.inbox_id, reply.attempt])?;
        }
        InboxOutcome::Answered => {
            let mut state =
                tx.prepare_cached("SELECT state FROM turns WHERE session_key = ?1 AND idempotency_key = ?2")?;
            for (session_key, key) in reply.turns.iter() {
                let s: Option<String> = state.query_row(params![session_key, key], |r| r.get(0)).optional()?;
                if s.as_deref() != Some(TurnState::Done.as_str()) {
                    // A sibling still runs (or has not started): its own end settles the row.
                    return Ok(());
                }
            }
            tx.prepare_cached(&format!(
                "UPDATE inbox SET state = 'done', error = ?1, updated_ms = ?2 WHERE id = ?3 {unfinished}"
            ))?
            .execute(params![None::<String>, now, reply.inbox_id, reply.attempt])?;
        }
    }
    Ok(())
}

/// Insert an imported session and its transcript, unless its key or id is taken (checked
/// first: a unique-constraint failure would fail the transaction and with it the store).
fn import_session(tx: &Connection, import: &ImportedSession) -> rusqlite::Result<AgentOutcome> {
    let s = &import.session;
    let taken: Option<String> = tx
        .prepare_cached("SELECT key FROM sessions WHERE key = ?1 OR session_id = ?2 LIMIT 1")?
        .query_row(params![s.key, s.session_id], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Ok(0);
    }
    tx.prepare_cached(
        "INSERT INTO sessions (key, session_id, agent_id, model, label, channel, chat_id, created_ms, updated_ms, \
         input_tokens, output_tokens, cost_usd, turns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        s.key,
        s.session_id,
        s.agent_id,
        s.model,
        s.label,
        s.channel,
        s.chat_id,
        col(s.created_at),
        col(s.updated_at),
        col(s.input_tokens),
        col(s.output_tokens),
        s.cost_usd,
        col(s.turns)
    ])?;
    let run_id = format!("{IMPORT_RUN_PREFIX}{}", s.session_id);
    for m in &import.messages {
        insert_message(tx, &s.key, &run_id, &m.message, col(m.timestamp))?;
    }
    Ok(1)
}

fn insert_message(
    tx: &Connection,
    session_key: &str,
    run_id: &str,
    m: &super::agent::NewMessage,
    at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO transcript (session_key, run_id, role, content, tool_calls, tool_call_id, created_ms, \
         input_tokens, output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        session_key,
        run_id,
        m.role,
        m.content,
        m.tool_calls,
        m.tool_call_id,
        at,
        m.input_tokens.map(col),
        m.output_tokens.map(col)
    ])?;
    Ok(())
}

const SESSION_COLS: &str = "key, session_id, agent_id, model, label, channel, chat_id, created_ms, updated_ms, \
                            input_tokens, output_tokens, cost_usd, turns";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        key: r.get(0)?,
        session_id: r.get(1)?,
        agent_id: r.get(2)?,
        model: r.get(3)?,
        label: r.get(4)?,
        channel: r.get(5)?,
        chat_id: r.get(6)?,
        created_at: unsigned(r.get(7)?),
        updated_at: unsigned(r.get(8)?),
        input_tokens: unsigned(r.get(9)?),
        output_tokens: unsigned(r.get(10)?),
        cost_usd: r.get(11)?,
        turns: unsigned(r.get(12)?),
    })
}

const MESSAGE_COLS: &str = "t.id, t.session_key, t.run_id, t.role, t.content, t.tool_calls, t.tool_call_id, \
                            t.created_ms, t.input_tokens, t.output_tokens";

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        session_key: r.get(1)?,
        run_id: r.get(2)?,
        role: r.get(3)?,
        content: r.get(4)?,
        tool_calls: r.get(5)?,
        tool_call_id: r.get(6)?,
        timestamp: unsigned(r.get(7)?),
        input_tokens: r.get::<_, Option<i64>>(8)?.map(unsigned),
        output_tokens: r.get::<_, Option<i64>>(9)?.map(unsigned),
    })
}

const TURN_COLS: &str = "run_id, session_key, state, model, started_ms, ended_ms, input_tokens, output_tokens, \
                         cost_usd, error, idempotency_key";

fn turn_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TurnRow> {
    let state: String = r.get(2)?;
    let state = TurnState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Sqlite(format!("unknown turn state {state:?}"))),
        )
    })?;
    Ok(TurnRow {
        run_id: r.get(0)?,
        session_key: r.get(1)?,
        state,
        model: r.get(3)?,
        started_at: unsigned(r.get(4)?),
        ended_at: r.get::<_, Option<i64>>(5)?.map(unsigned),
        input_tokens: unsigned(r.get(6)?),
        output_tokens: unsigned(r.get(7)?),
        cost_usd: r.get(8)?,
        error: r.get(9)?,
        idempotency_key: r.get(10)?,
    })
}

/// Newest-first rows of `sql` (which ends `ORDER BY t.id DESC LIMIT ?2`), returned oldest first.
fn newest_messages(conn: &Connection, sql: &str, key: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![key, limit_col(limit)], message_row)?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}

impl AgentReads for SqliteBackend {
    fn session(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE key = ?1");
        Ok(conn.prepare_cached(&sql)?.query_row(params![key], session_row).optional()?)
    }

    fn sessions(&self, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!("SELECT {SESSION_COLS} FROM sessions ORDER BY updated_ms DESC, key LIMIT ?1");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![limit_col(limit)], session_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn messages(&self, session_key: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let sql =
            format!("SELECT {MESSAGE_COLS} FROM transcript t WHERE t.session_key = ?1 ORDER BY t.id DESC LIMIT ?2");
        newest_messages(&self.lock_reader(), &sql, session_key, limit)
    }

    fn messages_of_channel(&self, channel: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM transcript t JOIN sessions s ON s.key = t.session_key \
             WHERE s.channel = ?1 ORDER BY t.id DESC LIMIT ?2"
        );
        newest_messages(&self.lock_reader(), &sql, channel, limit)
    }

    fn turn(&self, run_id: &str) -> Result<Option<TurnRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!("SELECT {TURN_COLS} FROM turns WHERE run_id = ?1");
        Ok(conn.prepare_cached(&sql)?.query_row(params![run_id], turn_row).optional()?)
    }

    fn turn_by_idempotency(&self, session_key: &str, key: &str) -> Result<Option<TurnRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!("SELECT {TURN_COLS} FROM turns WHERE session_key = ?1 AND idempotency_key = ?2");
        Ok(conn.prepare_cached(&sql)?.query_row(params![session_key, key], turn_row).optional()?)
    }

    fn messages_after(&self, session_key: &str, after_id: i64, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM transcript t WHERE t.session_key = ?1 AND t.id > ?2 ORDER BY t.id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![session_key, after_id, limit_col(limit)], message_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn sessions_after(&self, after_key: &str, limit: usize) -> Result<Vec<SessionRow>, StoreError> {
        let conn = self.lock_reader();
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE key > ?1 ORDER BY key LIMIT ?2");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![after_key, limit_col(limit)], session_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn usage_by_model(&self) -> Result<Vec<ModelUsage>, StoreError> {
        let conn = self.lock_reader();
        let mut stmt = conn.prepare_cached(
            "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd) FROM turns \
             WHERE state != 'running' GROUP BY model ORDER BY SUM(cost_usd) DESC, model LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit_col(MAX_QUERY_LIMIT)], |r| {
            Ok(ModelUsage {
                model: r.get(0)?,
                turns: unsigned(r.get(1)?),
                input_tokens: unsigned(r.get(2)?),
                output_tokens: unsigned(r.get(3)?),
                cost_usd: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
