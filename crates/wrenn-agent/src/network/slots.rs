//! Slot indices: each live sandbox network holds one, which fixes its
//! namespace, veth names and host-side addresses. A lease gives its slot back
//! when dropped, so an error path cannot leak one.
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, PoisonError},
};

/// Index of one sandbox network on this host (`0..max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u32);

impl Slot {
    pub fn index(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotError {
    /// Every slot up to the configured maximum is in use.
    #[error("all {max} network slots are in use")]
    Exhausted { max: u32 },
    /// A specific slot was asked for (re-adoption) but is taken or too large.
    #[error("network slot {slot} is in use or beyond the maximum of {max}")]
    Unavailable { slot: u32, max: u32 },
}

/// Hands out the lowest free slot; thread-safe and cheap to clone.
#[derive(Debug, Clone)]
pub struct SlotAllocator {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    max: u32,
    used: BTreeSet<u32>,
}

/// A held slot; released when dropped.
#[derive(Debug)]
pub struct SlotLease {
    slot: Slot,
    inner: Arc<Mutex<Inner>>,
}

impl SlotLease {
    pub fn slot(&self) -> Slot {
        self.slot
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.used.remove(&self.slot.0);
    }
}

impl SlotAllocator {
    /// An allocator for slots `0..max`.
    pub fn new(max: u32) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                max,
                used: BTreeSet::new(),
            })),
        }
    }

    /// Takes the lowest free slot.
    pub fn allocate(&self) -> Result<SlotLease, SlotError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let free = (0..inner.max).find(|i| !inner.used.contains(i));
        let index = free.ok_or(SlotError::Exhausted { max: inner.max })?;
        inner.used.insert(index);
        Ok(SlotLease {
            slot: Slot(index),
            inner: Arc::clone(&self.inner),
        })
    }

    /// Takes a given slot, e.g. when re-adopting a sandbox after a restart.
    pub fn claim(&self, index: u32) -> Result<SlotLease, SlotError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if index >= inner.max || !inner.used.insert(index) {
            return Err(SlotError::Unavailable {
                slot: index,
                max: inner.max,
            });
        }
        Ok(SlotLease {
            slot: Slot(index),
            inner: Arc::clone(&self.inner),
        })
    }

    /// How many slots are held now.
    pub fn in_use(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_when_free_then_lowest_first() {
        let slots = SlotAllocator::new(3);
        let a = slots.allocate().expect("slot");
        let b = slots.allocate().expect("slot");
        assert_eq!((a.slot().index(), b.slot().index()), (0, 1));
    }

    #[test]
    fn allocate_when_all_used_then_exhausted() {
        let slots = SlotAllocator::new(1);
        let _a = slots.allocate().expect("slot");
        assert_eq!(
            slots.allocate().err(),
            Some(SlotError::Exhausted { max: 1 })
        );
    }

    #[test]
    fn drop_lease_then_slot_reused() {
        let slots = SlotAllocator::new(2);
        let a = slots.allocate().expect("slot");
        let _b = slots.allocate().expect("slot");
        drop(a);
        assert_eq!(slots.allocate().expect("slot").slot().index(), 0);
    }

    #[test]
    fn claim_when_taken_or_beyond_max_then_unavailable() {
        let slots = SlotAllocator::new(4);
        let _held = slots.claim(2).expect("slot");
        assert!(matches!(
            slots.claim(2),
            Err(SlotError::Unavailable { slot: 2, .. })
        ));
        assert!(matches!(
            slots.claim(4),
            Err(SlotError::Unavailable { slot: 4, .. })
        ));
    }

    #[test]
    fn allocate_from_many_threads_then_unique_and_all_released() {
        let slots = SlotAllocator::new(64);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    (0..8)
                        .map(|_| slots.allocate().expect("slot"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let leases: Vec<SlotLease> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        let mut all: Vec<u32> = leases.iter().map(|l| l.slot().index()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 64);
        drop(leases);
        assert_eq!(slots.in_use(), 0);
    }
}
