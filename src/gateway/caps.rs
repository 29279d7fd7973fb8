//! The open terminals of this process and their caps: how many a livelesson and a client
//! address may hold, and the handle that ends a terminal from outside (its livelesson
//! ended, the process stops). An [`Admission`] is a place among them; dropping it gives
//! the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::ending::Ending;
use super::refusal::Refusal;

/// The open terminals, by livelesson and by client address.
#[derive(Debug, Default)]
pub struct Terminals {
    next: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Livelesson → terminal → the sender that ends it.
    by_livelesson: HashMap<String, HashMap<u64, watch::Sender<Option<Ending>>>>,
    /// Client address group → open terminals.
    by_address: HashMap<IpAddr, usize>,
}

/// The caps an admission is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Terminals per livelesson.
    pub per_livelesson: usize,
    /// Terminals per client address group.
    pub per_address: usize,
}

impl Terminals {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is counts and senders, consistent after every statement: a panic
        // elsewhere while holding the lock leaves nothing half-done to distrust.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a terminal of `livelesson` from `address` (its limit group), or the
    /// cap it would exceed.
    ///
    /// # Errors
    /// [`Refusal::LivelessonFull`] or [`Refusal::AddressFull`].
    pub fn admit(
        self: &Arc<Self>,
        livelesson: &str,
        address: Option<IpAddr>,
        caps: Caps,
    ) -> Result<Admission, Refusal> {
        let mut state = self.lock();
        let of_livelesson = state.by_livelesson.get(livelesson).map_or(0, HashMap::len);
        if of_livelesson >= caps.per_livelesson {
            return Err(Refusal::LivelessonFull(caps.per_livelesson));
        }
        if let Some(address) = address {
            if state.by_address.get(&address).copied().unwrap_or(0) >= caps.per_address {
                return Err(Refusal::AddressFull(caps.per_address));
            }
            *state.by_address.entry(address).or_default() += 1;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (end, ended) = watch::channel(None);
        state
            .by_livelesson
            .entry(livelesson.to_owned())
            .or_default()
            .insert(id, end);
        Ok(Admission {
            terminals: Arc::clone(self),
            id,
            livelesson: livelesson.to_owned(),
            address,
            ended,
        })
    }

    /// The livelessons with open terminals.
    pub fn livelessons(&self) -> Vec<String> {
        self.lock().by_livelesson.keys().cloned().collect()
    }

    /// Ends every terminal of `livelesson` with `ending`; how many.
    pub fn end_livelesson(&self, livelesson: &str, ending: &Ending) -> usize {
        let state = self.lock();
        state.by_livelesson.get(livelesson).map_or(0, |terminals| {
            for end in terminals.values() {
                end.send_replace(Some(ending.clone()));
            }
            terminals.len()
        })
    }

    /// Ends every open terminal with `ending`.
    pub fn end_all(&self, ending: &Ending) {
        for terminals in self.lock().by_livelesson.values() {
            for end in terminals.values() {
                end.send_replace(Some(ending.clone()));
            }
        }
    }

    /// Open terminals of `livelesson`.
    pub fn count(&self, livelesson: &str) -> usize {
        self.lock()
            .by_livelesson
            .get(livelesson)
            .map_or(0, HashMap::len)
    }
}

/// One open terminal's place; dropping it frees the place.
#[derive(Debug)]
pub struct Admission {
    terminals: Arc<Terminals>,
    id: u64,
    livelesson: String,
    address: Option<IpAddr>,
    /// Set when something outside the terminal ends it.
    pub ended: watch::Receiver<Option<Ending>>,
}

impl Admission {
    /// The livelesson.
    pub fn livelesson(&self) -> &str {
        &self.livelesson
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut state = self.terminals.lock();
        if let Some(terminals) = state.by_livelesson.get_mut(&self.livelesson) {
            terminals.remove(&self.id);
            if terminals.is_empty() {
                state.by_livelesson.remove(&self.livelesson);
            }
        }
        if let Some(address) = self.address
            && let Some(count) = state.by_address.get_mut(&address)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.by_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        per_livelesson: 2,
        per_address: 3,
    };

    #[test]
    fn caps_count_open_terminals_and_dropping_frees_a_place() {
        let terminals = Arc::new(Terminals::default());
        let address = Some(IpAddr::from([127, 0, 0, 1]));
        let first = terminals.admit("aaaaaaaaaa", address, CAPS).expect("first");
        let _second = terminals
            .admit("aaaaaaaaaa", address, CAPS)
            .expect("second");
        assert!(matches!(
            terminals.admit("aaaaaaaaaa", address, CAPS),
            Err(Refusal::LivelessonFull(2))
        ));
        let _third = terminals.admit("bbbbbbbbbb", address, CAPS).expect("third");
        assert!(matches!(
            terminals.admit("cccccccccc", address, CAPS),
            Err(Refusal::AddressFull(3))
        ));
        drop(first);
        assert_eq!(terminals.count("aaaaaaaaaa"), 1);
        terminals
            .admit("aaaaaaaaaa", address, CAPS)
            .expect("a freed place");
    }

    #[test]
    fn ending_a_livelesson_reaches_its_terminals_only() {
        let terminals = Arc::new(Terminals::default());
        let mut ours = terminals.admit("aaaaaaaaaa", None, CAPS).expect("ours");
        let other = terminals.admit("bbbbbbbbbb", None, CAPS).expect("other");
        assert_eq!(terminals.end_livelesson("aaaaaaaaaa", &Ending::LabEnded), 1);
        assert!(ours.ended.has_changed().expect("open"));
        assert_eq!(*ours.ended.borrow_and_update(), Some(Ending::LabEnded));
        assert_eq!(*other.ended.borrow(), None);
    }
}
