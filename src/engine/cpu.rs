//! A process-wide budget of CPU threads for decoding.
//!
//! ggml's worker threads spin while they wait, so two decodes that together ask for more threads than
//! there are cores do not share the machine: they slow each other down many times over (measured here:
//! 4 s alone, minutes when oversubscribed). Every decode takes its threads from this budget first.

use std::sync::{Condvar, Mutex};

pub struct CpuBudget {
    total: u32,
    used: Mutex<u32>,
    freed: Condvar,
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
        CpuBudget { total: total.max(1), used: Mutex::new(0), freed: Condvar::new() }
    }

    /// The process's budget: the machine's cores, shared by every engine in the process.
    pub fn global() -> &'static CpuBudget {
        static GLOBAL: std::sync::OnceLock<CpuBudget> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| Self::new(std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2)))
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// Blocks until `threads` (capped at the budget) are free, then holds them.
    pub fn acquire(&self, threads: u32) -> CpuPermit<'_> {
        let threads = threads.clamp(1, self.total);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + threads > self.total {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += threads;
        CpuPermit { budget: self, threads }
    }
}

impl Drop for CpuPermit<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.threads;
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
