//! Connection slots addressed by tokens that carry a generation.
//!
//! Guarantees: a token names one connection for that connection's whole life and never
//! another: reusing a slot bumps its generation, so a late worker completion or timer for
//! a closed connection finds a generation mismatch and is ignored. Tokens never collide
//! with the reserved listener and waker tokens.

use crate::conn::Connection;

/// Token of the listening socket.
pub const LISTENER: mio::Token = mio::Token(usize::MAX);
/// Token of the cross-thread waker.
pub const WAKER: mio::Token = mio::Token(usize::MAX - 1);

/// Generations wrap below this so a token can never equal a reserved one.
const GENERATION_MASK: usize = 0x7fff_ffff;
const INDEX_BITS: u32 = 32;

#[derive(Debug, Default)]
struct Slot {
    generation: usize,
    conn: Option<Box<Connection>>,
}

/// The reactor's connections.
#[derive(Debug, Default)]
pub struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
    len: usize,
}

impl Slab {
    /// Store the connection `make` builds for its token; returns the token.
    pub fn insert_with(&mut self, make: impl FnOnce(usize) -> Box<Connection>) -> usize {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        let generation = self.slots.get(index).map_or(0, |s| s.generation);
        let token = (generation << INDEX_BITS) | index;
        if let Some(slot) = self.slots.get_mut(index) {
            slot.conn = Some(make(token));
            self.len += 1;
        }
        token
    }

    /// The connection for `token`, if it is still the same connection.
    pub fn get_mut(&mut self, token: usize) -> Option<&mut Connection> {
        let (index, generation) = split(token);
        self.slots.get_mut(index).filter(|s| s.generation == generation).and_then(|s| s.conn.as_deref_mut())
    }

    /// Take the connection out; the slot's generation moves on.
    pub fn remove(&mut self, token: usize) -> Option<Box<Connection>> {
        let (index, generation) = split(token);
        let slot = self.slots.get_mut(index).filter(|s| s.generation == generation)?;
        let conn = slot.conn.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(index);
        self.len -= 1;
        Some(conn)
    }

    /// No live connections.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tokens of all live connections.
    #[must_use]
    pub fn tokens(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| (s.generation << INDEX_BITS) | i)
            .collect()
    }
}

fn split(token: usize) -> (usize, usize) {
    (token & ((1 << INDEX_BITS) - 1), token >> INDEX_BITS)
}
