//! Connection slots addressed by tokens that carry a generation.
//!
//! Guarantees: a token names one connection for that connection's whole life and never
//! another: reusing a slot bumps its generation, so a late worker completion or timer for
//! a closed connection finds a generation mismatch and is ignored. Tokens never collide
//! with the reserved listener and waker tokens.

/// Token of the listening socket.
pub const LISTENER: mio::Token = mio::Token(usize::MAX);
/// Token of the cross-thread waker.
pub const WAKER: mio::Token = mio::Token(usize::MAX - 1);

/// Low half of a token: the slot index (so 2^16 slots per reactor on 32-bit targets).
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Most slots a slab can address; a connection past it is refused at accept.
pub const MAX_SLOTS: usize = INDEX_MASK;
/// High half: the generation, wrapping below the top bit so a token can never equal a
/// reserved one.
const GENERATION_MASK: usize = (1 << (usize::BITS - INDEX_BITS - 1)) - 1;
// A connection token can never collide with a reserved one.
const _: () = assert!((GENERATION_MASK << INDEX_BITS | INDEX_MASK) < WAKER.0);

#[derive(Debug)]
struct Slot<T> {
    generation: usize,
    conn: Option<Box<T>>,
}

/// The reactor's connections (generic so it can be tested without sockets).
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    /// Store the connection `make` builds for its token; returns the token, or `None`
    /// when all [`MAX_SLOTS`] slots are in use.
    pub fn insert_with(&mut self, make: impl FnOnce(usize) -> Box<T>) -> Option<usize> {
        let index = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Slot { generation: 0, conn: None });
                self.slots.len() - 1
            }
            None => return None,
        };
        let generation = self.slots.get(index).map_or(0, |s| s.generation);
        let token = (generation << INDEX_BITS) | index;
        if let Some(slot) = self.slots.get_mut(index) {
            slot.conn = Some(make(token));
            self.len += 1;
        }
        Some(token)
    }

    /// The connection for `token`, if it is still the same connection.
    pub fn get_mut(&mut self, token: usize) -> Option<&mut T> {
        let (index, generation) = split(token);
        self.slots.get_mut(index).filter(|s| s.generation == generation).and_then(|s| s.conn.as_deref_mut())
    }

    /// Take the connection out; the slot's generation moves on.
    pub fn remove(&mut self, token: usize) -> Option<Box<T>> {
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
    (token & INDEX_MASK, token >> INDEX_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_never_reach_a_new_connection() {
        let mut slab: Slab<&str> = Slab::default();
        let a = slab.insert_with(|_| Box::new("a")).unwrap();
        assert_eq!(slab.remove(a).as_deref(), Some(&"a"));
        let b = slab.insert_with(|_| Box::new("b")).unwrap();
        assert_ne!(a, b, "same slot, new generation");
        assert!(slab.get_mut(a).is_none() && slab.remove(a).is_none());
        assert_eq!(slab.get_mut(b).map(|s| *s), Some("b"));
        assert_eq!(slab.tokens(), vec![b]);
        assert!(b != LISTENER.0 && b != WAKER.0);
    }

    #[test]
    fn generations_wrap_below_the_reserved_tokens() {
        let mut slab: Slab<u8> = Slab::default();
        let mut last = 0;
        for _ in 0..1000 {
            last = slab.insert_with(|_| Box::new(0)).unwrap();
            slab.remove(last);
        }
        assert!(last >> INDEX_BITS <= GENERATION_MASK);
    }
}
