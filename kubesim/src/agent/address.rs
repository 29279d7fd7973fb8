//! Loopback addresses for pods and services, and the listeners bound on them.
//!
//! 127.0.0.0/8 is split so that nothing kubesim hands out can collide with anything else
//! it hands out, in any process: 127.0.0.0/16 is left to real local services (and to the
//! service ranges a test gives a real kube-apiserver), pod addresses come from
//! [`POD_RANGE`] and kubesim's ClusterIPs from [`SERVICE_RANGE`]. Each allocator starts at a
//! random point of its range (salted with the process id), and an address another process
//! already uses is skipped when its bind fails with `EADDRINUSE`.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use super::lock;
use crate::knobs::Knobs;

/// Pod addresses: 127.1.0.0 up to 127.128.0.0.
pub const POD_RANGE: Range<u32> =
    u32::from_be_bytes([127, 1, 0, 0])..u32::from_be_bytes([127, 128, 0, 0]);
/// kubesim's ClusterIPs: 127.128.0.0 up to 127.255.0.0.
pub const SERVICE_RANGE: Range<u32> =
    u32::from_be_bytes([127, 128, 0, 0])..u32::from_be_bytes([127, 255, 0, 0]);
/// Bind attempts before giving up on finding a free address.
const BIND_ATTEMPTS: usize = 512;

/// Whether `ip` is an address of `range` kubesim would hand out (no .0 or .255 host).
pub fn in_range(range: &Range<u32>, ip: Ipv4Addr) -> bool {
    let last = ip.octets()[3];
    range.contains(&u32::from(ip)) && last != 0 && last != 255
}

/// Whether `ip` is a pod or service address of kubesim.
pub fn is_sim_address(ip: Ipv4Addr) -> bool {
    in_range(&POD_RANGE, ip) || in_range(&SERVICE_RANGE, ip)
}

/// Hands out the addresses of one range in order from a random start.
#[derive(Debug)]
pub struct Allocator {
    range: Range<u32>,
    next: Mutex<u32>,
}

impl Allocator {
    /// An allocator over `range` starting at a point drawn from `knobs` and salted with
    /// the process id and an instance counter, so same-seed instances in parallel test
    /// processes start apart.
    pub fn new(range: Range<u32>, knobs: &Knobs) -> Self {
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let span = u64::from(range.end - range.start);
        let salt = u64::from(std::process::id()) * 7_919
            + INSTANCES.fetch_add(1, Ordering::Relaxed) as u64 * 104_729;
        let offset = (knobs.rng_range(0, span) + salt * 256) % span;
        let start = range.start + u32::try_from(offset).unwrap_or(0);
        Self {
            range,
            next: Mutex::new(start),
        }
    }

    /// The next address of the range (wrapping), skipping .0 and .255.
    pub fn next(&self) -> Ipv4Addr {
        let mut n = lock(&self.next);
        loop {
            let ip = Ipv4Addr::from(*n);
            *n += 1;
            if *n >= self.range.end {
                *n = self.range.start;
            }
            if in_range(&self.range, ip) {
                return ip;
            }
        }
    }

    /// Picks the next address on which every port of `ports` can be bound, and binds them.
    /// Addresses another process holds (`EADDRINUSE`) are skipped; any other error is
    /// returned at once, with the address it happened on.
    pub fn bind_next(
        &self,
        counter: &ListenerCount,
        ports: &[u16],
    ) -> Result<(Ipv4Addr, Vec<BoundListener>), (Option<Ipv4Addr>, std::io::Error)> {
        let mut last_err = None;
        for _ in 0..BIND_ATTEMPTS {
            let ip = self.next();
            match bind_all(counter, ip, ports) {
                Ok(listeners) => return Ok((ip, listeners)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
                Err(e) => return Err((Some(ip), e)),
            }
        }
        Err((
            None,
            last_err.unwrap_or_else(|| std::io::Error::other("no free address")),
        ))
    }
}

/// Counts the listeners alive (pods' and services').
#[derive(Debug, Clone, Default)]
pub struct ListenerCount(Arc<AtomicUsize>);

impl ListenerCount {
    /// Listeners bound now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A bound listener, counted while alive.
#[derive(Debug)]
pub struct BoundListener {
    /// The port it listens on.
    pub port: u16,
    /// The socket.
    pub listener: TcpListener,
    count: ListenerCount,
}

impl Drop for BoundListener {
    fn drop(&mut self) {
        self.count.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Binds every port of `ports` on `ip` (all or none).
pub fn bind_all(
    counter: &ListenerCount,
    ip: Ipv4Addr,
    ports: &[u16],
) -> std::io::Result<Vec<BoundListener>> {
    let mut out = Vec::with_capacity(ports.len());
    for port in ports {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.set_reuseaddr(true)?;
        sock.bind(SocketAddr::from((ip, *port)))?;
        let listener = sock.listen(1024)?;
        counter.0.fetch_add(1, Ordering::Relaxed);
        out.push(BoundListener {
            port: *port,
            listener,
            count: counter.clone(),
        });
    }
    Ok(out)
}
