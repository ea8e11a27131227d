//! Outbound connections: one per remote `ip:port`, opened by us, shared by every process.
//!
//! Messages are queued to a per-address writer task which batches whatever is queued into
//! one write (pipelining without waiting for replies). Whatever the peer sends back (202s)
//! is read and discarded. A connection that carries a link is watched: when it breaks,
//! every process that linked a UPID at that address is told it exited.
//!
//! A dead or stuck peer cannot make us hold memory without bound: the connect and each
//! write have timeouts, and the queue to each peer is capped in bytes and messages (see
//! [`Limits`]). Past any of these the connection is dropped as if it broke: its queue is
//! discarded (counted in `libprocess/outbound_messages_dropped`) and its links get `exited`.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::BytesMut;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::config::Limits;
use crate::encoder::{encode_into, Message};
use crate::pid::Upid;
use crate::runtime::Inner;
use crate::timeout::timeout;

/// Flush a batch once it is this large, so one burst cannot hold memory without bound.
const MAX_BATCH: usize = 256 * 1024;

/// Bytes a queued message is charged beyond its body and name (UPIDs, request head), so
/// a flood of empty messages is bounded too.
const MESSAGE_OVERHEAD: usize = 256;

fn charge(message: &Message) -> usize {
    message
        .body
        .len()
        .saturating_add(message.name.len())
        .saturating_add(MESSAGE_OVERHEAD)
}

/// What is queued to one peer and not yet taken by its writer.
#[derive(Default)]
struct Queued {
    bytes: AtomicUsize,
    messages: AtomicUsize,
}

impl Queued {
    /// Charges a message unless that would exceed a limit.
    fn try_add(&self, size: usize, limits: &Limits) -> bool {
        let bytes = self.bytes.load(Ordering::Acquire);
        let messages = self.messages.load(Ordering::Acquire);
        if bytes.saturating_add(size) > limits.max_queued_bytes
            || messages >= limits.max_queued_messages
        {
            return false;
        }
        self.bytes.fetch_add(size, Ordering::AcqRel);
        self.messages.fetch_add(1, Ordering::AcqRel);
        true
    }

    fn remove(&self, size: usize) {
        // Every removal follows its own addition, so these never go below zero.
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        self.messages.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Conn {
    generation: u64,
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<Queued>,
    /// Tells the writer to give up (its queue overflowed); dropped with the connection.
    abort: Option<oneshot::Sender<String>>,
    /// (local linker, remote linkee) pairs watching this connection.
    links: Vec<(Upid, Upid)>,
}

#[derive(Default)]
pub(crate) struct Outbound {
    conns: Mutex<HashMap<SocketAddrV4, Conn>>,
    next_generation: Mutex<u64>,
}

impl Outbound {
    /// Queues `message` to its receiver's address, connecting if needed. If the queue to
    /// that peer is full, the connection is dropped instead (see [`Outbound::overflow`]).
    pub(crate) fn send(&self, rt: &Arc<Inner>, message: Message) {
        let addr = message.to.address();
        let size = charge(&message);
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let message = match conns.get(&addr) {
            Some(conn) if !conn.tx.is_closed() => {
                if !conn.queued.try_add(size, &rt.limits) {
                    let conn = conns.remove(&addr);
                    drop(conns);
                    if let Some(conn) = conn {
                        self.overflow(rt, addr, conn);
                    }
                    return;
                }
                match conn.tx.send(message) {
                    Ok(()) => return,
                    // The writer ended between its failure and its cleanup: start afresh.
                    Err(mpsc::error::SendError(m)) => {
                        conn.queued.remove(size);
                        m
                    }
                }
            }
            _ => message,
        };
        let conn = self.connect(rt, addr, Vec::new());
        if conn.queued.try_add(size, &rt.limits) && conn.tx.send(message).is_ok() {
            conns.insert(addr, conn);
        } else {
            drop(conns);
            self.overflow(rt, addr, conn);
        }
    }

    /// The queue to `addr` is full: the peer is not keeping up. Drop the connection as if it
    /// broke (its writer discards what is queued) and tell its linkers at once, so a stuck
    /// peer costs bounded memory and is noticed.
    fn overflow(&self, rt: &Arc<Inner>, addr: SocketAddrV4, mut conn: Conn) {
        let queued = conn.queued.messages.load(Ordering::Acquire);
        let bytes = conn.queued.bytes.load(Ordering::Acquire);
        tracing::warn!(peer = %addr, queued, bytes, "outbound queue full; dropping the connection");
        rt.metrics
            .counter("libprocess/outbound_queue_overflows")
            .inc();
        // The message that did not fit.
        rt.metrics
            .counter("libprocess/outbound_messages_dropped")
            .inc();
        if let Some(abort) = conn.abort.take() {
            let _ = abort.send("outbound queue full".to_string());
        }
        let rt = crate::runtime::Runtime(rt.clone());
        for (linker, linkee) in std::mem::take(&mut conn.links) {
            rt.deliver_exited(&linker, linkee);
        }
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
        let (abort, aborted) = oneshot::channel();
        let queued = Arc::new(Queued::default());
        let weak = Arc::downgrade(rt);
        rt.arbiter.spawn(run_connection(
            weak,
            addr,
            generation,
            Channel {
                rx,
                queued: queued.clone(),
                aborted,
            },
        ));
        Conn {
            generation,
            tx,
            queued,
            abort: Some(abort),
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

/// The writer's end of a connection's queue.
struct Channel {
    rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<Queued>,
    aborted: oneshot::Receiver<String>,
}

async fn run_connection(rt: Weak<Inner>, addr: SocketAddrV4, generation: u64, channel: Channel) {
    let Channel {
        mut rx,
        queued,
        aborted,
    } = channel;
    let Some((limits, clock)) = rt.upgrade().map(|rt| (rt.limits.clone(), rt.clock.clone())) else {
        return;
    };
    let outcome = {
        let work = async {
            let stream =
                match timeout(&clock, limits.connect_timeout, TcpStream::connect(addr)).await {
                    Some(Ok(stream)) => stream,
                    Some(Err(e)) => return format!("connect failed: {e}"),
                    None => return format!("connect timed out after {:?}", limits.connect_timeout),
                };
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
                    queued.remove(charge(&first));
                    encode_into(&first, &mut buf);
                    while buf.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => {
                                queued.remove(charge(&m));
                                encode_into(&m, &mut buf);
                            }
                            Err(_) => break,
                        }
                    }
                    let mut write = std::pin::pin!(wr.write_all(&buf));
                    // Arm the timer only for a write the socket cannot take at once.
                    let written = match (&mut write).now_or_never() {
                        Some(done) => Some(done),
                        None => timeout(&clock, limits.write_timeout, write).await,
                    };
                    match written {
                        Some(Ok(())) => {}
                        Some(Err(e)) => return format!("write failed: {e}"),
                        None => return format!("write stalled for {:?}", limits.write_timeout),
                    }
                    buf.clear();
                }
                "no longer used".to_string()
            };
            tokio::select! {
                why = drain => why,
                why = write => why,
            }
        };
        tokio::select! {
            why = work => why,
            why = aborted => why.unwrap_or_else(|_| "connection discarded".to_string()),
        }
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
    if dropped > 0 || !links.is_empty() {
        tracing::warn!(peer = %addr, %outcome, dropped, "outbound connection ended");
    } else {
        tracing::debug!(peer = %addr, %outcome, "outbound connection ended");
    }
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
