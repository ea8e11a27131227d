//! Outbound connections: one per remote `ip:port`, opened by us, shared by every process.
//!
//! Messages are queued to a per-address writer task which batches whatever is queued into
//! one write (pipelining without waiting for replies). Whatever the peer sends back (202s)
//! is read and discarded. A connection that carries a link is watched: when it breaks,
//! every process that linked a UPID at that address is told it exited.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex, Weak};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::encoder::{encode_into, Message};
use crate::pid::Upid;
use crate::runtime::Inner;

/// Flush a batch once it is this large, so one burst cannot hold memory without bound.
const MAX_BATCH: usize = 256 * 1024;

struct Conn {
    generation: u64,
    tx: mpsc::UnboundedSender<Message>,
    /// (local linker, remote linkee) pairs watching this connection.
    links: Vec<(Upid, Upid)>,
}

#[derive(Default)]
pub(crate) struct Outbound {
    conns: Mutex<HashMap<SocketAddrV4, Conn>>,
    next_generation: Mutex<u64>,
}

impl Outbound {
    /// Queues `message` to its receiver's address, connecting if needed.
    pub(crate) fn send(&self, rt: &Arc<Inner>, message: Message) {
        let addr = message.to.address();
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let message = match conns.get(&addr) {
            Some(conn) => match conn.tx.send(message) {
                Ok(()) => return,
                // The writer ended between its failure and its cleanup: start afresh.
                Err(mpsc::error::SendError(m)) => m,
            },
            None => message,
        };
        let conn = self.connect(rt, addr, Vec::new());
        let _ = conn.tx.send(message);
        conns.insert(addr, conn);
    }

    /// Makes the connection to `linkee`'s address persistent and watched by `linker`.
    pub(crate) fn link(&self, rt: &Arc<Inner>, linker: Upid, linkee: Upid) {
        let addr = linkee.address();
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        match conns.get_mut(&addr) {
            Some(conn) if !conn.tx.is_closed() => {
                if !conn.links.iter().any(|(a, b)| *a == linker && *b == linkee) {
                    conn.links.push((linker, linkee));
                }
            }
            _ => {
                let conn = self.connect(rt, addr, vec![(linker, linkee)]);
                conns.insert(addr, conn);
            }
        }
    }

    pub(crate) fn unlink(&self, linker: &Upid, linkee: &Upid) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(conn) = conns.get_mut(&linkee.address()) {
            conn.links.retain(|(a, b)| !(a == linker && b == linkee));
        }
    }

    /// Drops every link held by a terminated local process.
    pub(crate) fn forget_linker(&self, linker: &Upid) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for conn in conns.values_mut() {
            conn.links.retain(|(a, _)| a != linker);
        }
    }

    fn connect(&self, rt: &Arc<Inner>, addr: SocketAddrV4, links: Vec<(Upid, Upid)>) -> Conn {
        let generation = {
            let mut g = self
                .next_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *g += 1;
            *g
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let weak = Arc::downgrade(rt);
        rt.arbiter.spawn(run_connection(weak, addr, generation, rx));
        Conn {
            generation,
            tx,
            links,
        }
    }

    /// Removes a dead connection and returns the links that were watching it.
    fn closed(&self, addr: SocketAddrV4, generation: u64) -> Vec<(Upid, Upid)> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        match conns.get(&addr) {
            Some(conn) if conn.generation == generation => {
                conns.remove(&addr).map(|c| c.links).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

async fn run_connection(
    rt: Weak<Inner>,
    addr: SocketAddrV4,
    generation: u64,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let outcome = match TcpStream::connect(addr).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            let (mut rd, mut wr) = stream.into_split();
            let drain = async {
                let mut buf = vec![0u8; 8192];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) => return "closed by peer".to_string(),
                        Ok(_) => {}
                        Err(e) => return format!("read failed: {e}"),
                    }
                }
            };
            let write = async {
                let mut buf = BytesMut::with_capacity(64 * 1024);
                while let Some(first) = rx.recv().await {
                    encode_into(&first, &mut buf);
                    while buf.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => encode_into(&m, &mut buf),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = wr.write_all(&buf).await {
                        return format!("write failed: {e}");
                    }
                    buf.clear();
                }
                "no longer used".to_string()
            };
            tokio::select! {
                why = drain => why,
                why = write => why,
            }
        }
        Err(e) => format!("connect failed: {e}"),
    };
    let Some(rt) = rt.upgrade() else { return };
    let links = rt.outbound.closed(addr, generation);
    let dropped = {
        rx.close();
        let mut n = 0u64;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        n
    };
    tracing::debug!(peer = %addr, %outcome, dropped, "outbound connection ended");
    if dropped > 0 {
        rt.metrics
            .counter("libprocess/outbound_messages_dropped")
            .add(dropped);
    }
    let rt = crate::runtime::Runtime(rt);
    for (linker, linkee) in links {
        rt.deliver_exited(&linker, linkee);
    }
}
