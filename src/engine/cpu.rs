//! A process-wide budget of CPU threads for decoding.
//!
//! ggml's worker threads spin while they wait, so two decodes that together ask for more threads than
//! there are cores do not share the machine: they slow each other down many times over (measured here:
//! 4 s alone, minutes when oversubscribed). Every decode takes its threads from this budget first.

use std::sync::{Condvar, Mutex};

pub struct CpuBudget {
    total: u32,
    state: Mutex<Tickets>,
    freed: Condvar,
}

/// Threads in use, and a ticket line so that waiters are served in arrival order: a decode that needs
/// every core is not starved by a stream of one-thread decodes taking each core as it frees.
#[derive(Default)]
struct Tickets {
    used: u32,
    next_ticket: u64,
    serving: u64,
}

/// Threads held by one decode; returned on drop.
pub struct CpuPermit<'a> {
    budget: &'a CpuBudget,
    threads: u32,
}

impl CpuPermit<'_> {
    pub fn threads(&self) -> u32 {
        self.threads
    }
}

impl CpuBudget {
    pub fn new(total: u32) -> Self {
        CpuBudget { total: total.max(1), state: Mutex::new(Tickets::default()), freed: Condvar::new() }
    }

    /// The process's budget: the machine's cores, shared by every engine in the process.
    pub fn global() -> &'static CpuBudget {
        static GLOBAL: std::sync::OnceLock<CpuBudget> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| Self::new(std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2)))
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// Blocks until it is this caller's turn and `threads` (capped at the budget) are free, then
    /// holds them.
    pub fn acquire(&self, threads: u32) -> CpuPermit<'_> {
        let threads = threads.clamp(1, self.total);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        while st.serving != ticket || st.used + threads > self.total {
            st = self.freed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.used += threads;
        st.serving += 1;
        drop(st);
        // The next in line may fit in what is left.
        self.freed.notify_all();
        CpuPermit { budget: self, threads }
    }
}

impl Drop for CpuPermit<'_> {
    fn drop(&mut self) {
        let mut st = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        st.used -= self.threads;
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn never_hands_out_more_than_the_total() {
        let budget = Arc::new(CpuBudget::new(2));
        let in_use = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (b, u, p) = (budget.clone(), in_use.clone(), peak.clone());
                std::thread::spawn(move || {
                    let permit = b.acquire(1 + i % 2);
                    let now = u.fetch_add(permit.threads(), Ordering::SeqCst) + permit.threads();
                    p.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    u.fetch_sub(permit.threads(), Ordering::SeqCst);
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(budget.acquire(99).threads(), 2);
    }
}
