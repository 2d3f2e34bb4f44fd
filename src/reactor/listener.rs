//! Listening sockets: one per reactor, sharing the port through SO_REUSEPORT.
//!
//! Guarantees: the first socket decides the port (so `--port 0` works with several
//! reactors); every socket is non-blocking with a deep backlog.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of pending connections the kernel holds while accept is paused.
const BACKLOG: i32 = 4096;

/// Bind `count` listeners on `addr`.
///
/// # Errors
/// The address is in use or not ours.
pub fn bind(addr: SocketAddr, count: usize) -> std::io::Result<(Vec<mio::net::TcpListener>, SocketAddr)> {
    let mut listeners = Vec::with_capacity(count);
    let mut actual = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(actual), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        if actual.is_ipv6() {
            socket.set_only_v6(false).ok();
        }
        socket.set_nonblocking(true)?;
        socket.bind(&actual.into())?;
        socket.listen(BACKLOG)?;
        let std_listener: std::net::TcpListener = socket.into();
        actual = std_listener.local_addr()?;
        listeners.push(mio::net::TcpListener::from_std(std_listener));
    }
    Ok((listeners, actual))
}
