//! Warm pool bookkeeping (issue #15 item 2): per template and shape, how
//! many idle sandboxes the agent wants ready, which are idle now, which are
//! being made, and what to do when a create arrives, when memory runs low or
//! when a template goes away. This module only decides; it starts and kills
//! nothing. The item type `T` is whatever the caller keeps per pooled VM.
//!
//! The setting `AGENT_WARM_POOL` reads `template:vcpus:memory_mib:count`
//! entries separated by commas (`base:1:512:2`); unset, `0` or an empty value
//! turns pools off (existing stacks see no extra VMs). The quickstart turns
//! on one `base` sandbox of the built-in shape (`base:1:512:1`).
use std::collections::{BTreeMap, VecDeque};

use super::id::TemplateName;

/// The template and size a pooled sandbox was restored with; a create
/// claims from the pool only when its request matches all three.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WarmShape {
    pub template: TemplateName,
    pub vcpus: u8,
    pub memory_mib: u32,
}

/// One pool wanted: a shape and how many idle sandboxes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmPoolSpec {
    pub shape: WarmShape,
    pub count: usize,
}

/// A bad `AGENT_WARM_POOL` entry; each names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarmPoolError {
    #[error("warm pool entry '{0}': expected template:vcpus:memory_mib:count")]
    Shape(String),
    #[error("warm pool entry '{0}': the template name is invalid")]
    Template(String),
    #[error("warm pool entry '{0}': vcpus, memory_mib and count must be numbers, vcpus and memory_mib above 0")]
    Number(String),
    #[error("warm pool entry '{0}': the shape is listed twice")]
    Duplicate(String),
}

/// Parses `AGENT_WARM_POOL`; `0` or blank means no pools. Entries with a
/// count of 0 are dropped.
pub fn parse_specs(value: &str) -> Result<Vec<WarmPoolSpec>, WarmPoolError> {
    let value = value.trim();
    if value.is_empty() || value == "0" {
        return Ok(Vec::new());
    }
    let mut specs: Vec<WarmPoolSpec> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let spec = parse_entry(entry)?;
        if specs.iter().any(|s| s.shape == spec.shape) {
            return Err(WarmPoolError::Duplicate(entry.to_owned()));
        }
        if spec.count > 0 {
            specs.push(spec);
        }
    }
    Ok(specs)
}

fn parse_entry(entry: &str) -> Result<WarmPoolSpec, WarmPoolError> {
    let parts: Vec<&str> = entry.split(':').collect();
    let [template, vcpus, memory, count] = parts[..] else {
        return Err(WarmPoolError::Shape(entry.to_owned()));
    };
    let template = template
        .parse()
        .map_err(|_| WarmPoolError::Template(entry.to_owned()))?;
    let number = || WarmPoolError::Number(entry.to_owned());
    let vcpus: u8 = vcpus.parse().map_err(|_| number())?;
    let memory_mib: u32 = memory.parse().map_err(|_| number())?;
    let count: usize = count.parse().map_err(|_| number())?;
    if vcpus == 0 || memory_mib == 0 {
        return Err(number());
    }
    Ok(WarmPoolSpec {
        shape: WarmShape {
            template,
            vcpus,
            memory_mib,
        },
        count,
    })
}

/// What the host can give pools: memory it may fill with idle sandboxes,
/// and the level of `MemAvailable` under which pools shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostRoom {
    /// `MemAvailable` now, in MiB.
    pub available_mib: u64,
    /// Memory kept free for real sandboxes, in MiB; pools never eat into it.
    pub reserve_mib: u64,
}

/// Memory kept free for real sandboxes when pools are on, in MiB.
pub const DEFAULT_RESERVE_MIB: u64 = 1024;

impl HostRoom {
    /// This host's `MemAvailable` now (0, so pools give back, when
    /// `/proc/meminfo` cannot be read).
    pub fn now(reserve_mib: u64) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            available_mib: mem_available_mib(&meminfo).unwrap_or(0),
            reserve_mib,
        }
    }

    /// MiB pools may use beyond what they hold now.
    fn spare_mib(&self) -> u64 {
        self.available_mib.saturating_sub(self.reserve_mib)
    }

    /// Whether memory is short enough that pools should give back.
    pub fn is_low(&self) -> bool {
        self.available_mib < self.reserve_mib
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in MiB.
fn mem_available_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// One shape's pool.
#[derive(Debug)]
struct Pool<T> {
    /// Idle sandboxes wanted (after the host cap).
    target: usize,
    /// What the setting asked for.
    asked: usize,
    /// Idle and ready, oldest first (claims take the oldest).
    idle: VecDeque<T>,
    /// Being restored and warmed now.
    filling: usize,
}

/// One pool as host metrics and the heartbeat show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLoad {
    pub shape: WarmShape,
    /// Idle and ready now.
    pub idle: usize,
    /// Kept after the host cap and memory pressure.
    pub target: usize,
    /// What the setting asked for.
    pub asked: usize,
}

/// Every shape's pool.
#[derive(Debug)]
pub struct WarmPools<T> {
    pools: BTreeMap<WarmShape, Pool<T>>,
}

/// A pool whose target the host cap cut, for the log and host metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    pub shape: WarmShape,
    pub asked: usize,
    pub kept: usize,
}

impl<T> WarmPools<T> {
    /// Pools for `specs`, capped to what `room` holds: shapes are served in
    /// the order given, each getting what memory is left.
    pub fn new(specs: &[WarmPoolSpec], room: HostRoom) -> (Self, Vec<Capped>) {
        let mut spare = room.spare_mib();
        let mut capped = Vec::new();
        let mut pools = BTreeMap::new();
        for spec in specs {
            let each = u64::from(spec.shape.memory_mib).max(1);
            let fits = usize::try_from(spare / each).unwrap_or(usize::MAX);
            let kept = spec.count.min(fits);
            spare -= each * kept as u64;
            if kept < spec.count {
                capped.push(Capped {
                    shape: spec.shape.clone(),
                    asked: spec.count,
                    kept,
                });
            }
            pools.insert(
                spec.shape.clone(),
                Pool {
                    target: kept,
                    asked: spec.count,
                    idle: VecDeque::new(),
                    filling: 0,
                },
            );
        }
        (Self { pools }, capped)
    }

    /// Takes an idle sandbox of `shape` for a create, the oldest first.
    pub fn claim(&mut self, shape: &WarmShape) -> Option<T> {
        self.pools.get_mut(shape)?.idle.pop_front()
    }

    /// Shapes and how many sandboxes to start restoring for each now, and
    /// marks them as filling. Nothing starts while memory is low.
    pub fn refills(&mut self, room: HostRoom) -> Vec<(WarmShape, usize)> {
        if room.is_low() {
            return Vec::new();
        }
        let mut spare = room.spare_mib();
        let mut out = Vec::new();
        for (shape, pool) in &mut self.pools {
            let have = pool.idle.len() + pool.filling;
            let each = u64::from(shape.memory_mib).max(1);
            let fits = usize::try_from(spare / each).unwrap_or(usize::MAX);
            let start = pool.target.saturating_sub(have).min(fits);
            if start > 0 {
                spare -= each * start as u64;
                pool.filling += start;
                out.push((shape.clone(), start));
            }
        }
        out
    }

    /// A sandbox started by [`WarmPools::refills`] is warm and idle. If its
    /// pool is gone (template deleted) or full, it comes back to be killed.
    pub fn filled(&mut self, shape: &WarmShape, item: T) -> Option<T> {
        let Some(pool) = self.pools.get_mut(shape) else {
            return Some(item);
        };
        pool.filling = pool.filling.saturating_sub(1);
        if pool.idle.len() >= pool.target {
            return Some(item);
        }
        pool.idle.push_back(item);
        None
    }

    /// A sandbox started by [`WarmPools::refills`] failed to come up.
    pub fn fill_failed(&mut self, shape: &WarmShape) {
        if let Some(pool) = self.pools.get_mut(shape) {
            pool.filling = pool.filling.saturating_sub(1);
        }
    }

    /// Under memory pressure: the idle sandboxes to kill (newest first,
    /// enough to bring `MemAvailable` back over the reserve, at most every
    /// idle one), and each pool's target lowered to what it keeps so it does
    /// not refill. With memory back, [`WarmPools::regrow`] restores targets.
    pub fn shrink(&mut self, room: HostRoom) -> Vec<T> {
        let mut missing = room.reserve_mib.saturating_sub(room.available_mib);
        let mut out = Vec::new();
        for (shape, pool) in self.pools.iter_mut().rev() {
            let each = u64::from(shape.memory_mib).max(1);
            while missing > 0 {
                let Some(item) = pool.idle.pop_back() else {
                    break;
                };
                missing = missing.saturating_sub(each);
                out.push(item);
            }
            pool.target = pool.target.min(pool.idle.len() + pool.filling);
        }
        out
    }

    /// With memory back over the reserve, targets grow back towards what
    /// the setting asked, as far as `room` holds.
    pub fn regrow(&mut self, room: HostRoom) {
        if room.is_low() {
            return;
        }
        let mut spare = room.spare_mib();
        for (shape, pool) in &mut self.pools {
            let each = u64::from(shape.memory_mib).max(1);
            let fits = usize::try_from(spare / each).unwrap_or(usize::MAX);
            let more = pool.asked.saturating_sub(pool.target).min(fits);
            spare -= each * more as u64;
            pool.target += more;
        }
    }

    /// A template was deleted: its pools go, and their idle sandboxes come
    /// back to be killed (ones still filling come back through
    /// [`WarmPools::filled`]).
    pub fn drain_template(&mut self, template: &TemplateName) -> Vec<T> {
        let shapes: Vec<WarmShape> = self
            .pools
            .keys()
            .filter(|s| &s.template == template)
            .cloned()
            .collect();
        shapes
            .into_iter()
            .filter_map(|s| self.pools.remove(&s))
            .flat_map(|p| p.idle)
            .collect()
    }

    /// Every idle sandbox, for shutdown; targets stay.
    pub fn drain_all(&mut self) -> Vec<T> {
        self.pools
            .values_mut()
            .flat_map(|p| p.idle.drain(..))
            .collect()
    }

    /// Idle warm sandboxes on this host (the heartbeat's `warm` figure).
    pub fn warm(&self) -> usize {
        self.pools.values().map(|p| p.idle.len()).sum()
    }

    /// Each pool now, in shape order (the heartbeat's `warm_pools`).
    pub fn loads(&self) -> Vec<PoolLoad> {
        self.pools
            .iter()
            .map(|(shape, p)| PoolLoad {
                shape: shape.clone(),
                idle: p.idle.len(),
                target: p.target,
                asked: p.asked,
            })
            .collect()
    }

    /// Idle warm sandboxes of `template`, any shape (scheduler hints).
    pub fn warm_of(&self, template: &TemplateName) -> usize {
        self.pools
            .iter()
            .filter(|(s, _)| &s.template == template)
            .map(|(_, p)| p.idle.len())
            .sum()
    }

    /// Whether some pool is of `template`.
    pub fn has_template(&self, template: &TemplateName) -> bool {
        self.pools.keys().any(|s| &s.template == template)
    }

    /// Whether a shape has an idle sandbox now.
    pub fn has_idle(&self, shape: &WarmShape) -> bool {
        self.pools.get(shape).is_some_and(|p| !p.idle.is_empty())
    }

    /// The target of a shape's pool (after caps and shrinking).
    pub fn target(&self, shape: &WarmShape) -> usize {
        self.pools.get(shape).map_or(0, |p| p.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(template: &str, vcpus: u8, memory_mib: u32) -> WarmShape {
        WarmShape {
            template: template.parse().unwrap(),
            vcpus,
            memory_mib,
        }
    }

    fn room(available_mib: u64) -> HostRoom {
        HostRoom {
            available_mib,
            reserve_mib: 1024,
        }
    }

    fn base() -> WarmShape {
        shape("base", 1, 512)
    }

    #[test]
    fn parse_when_entries_given_then_each_shape_and_count_read() {
        let specs = parse_specs("base:1:512:2, py:2:1024:1").unwrap();
        assert_eq!(
            specs,
            vec![
                WarmPoolSpec {
                    shape: base(),
                    count: 2
                },
                WarmPoolSpec {
                    shape: shape("py", 2, 1024),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn parse_when_zero_or_blank_then_no_pools() {
        assert!(parse_specs("0").unwrap().is_empty());
        assert!(parse_specs("  ").unwrap().is_empty());
        assert!(parse_specs("base:1:512:0").unwrap().is_empty());
    }

    #[test]
    fn parse_when_entry_bad_then_error_names_it() {
        assert_eq!(
            parse_specs("base:1:512"),
            Err(WarmPoolError::Shape("base:1:512".into()))
        );
        assert_eq!(
            parse_specs("../x:1:512:1"),
            Err(WarmPoolError::Template("../x:1:512:1".into()))
        );
        assert_eq!(
            parse_specs("base:0:512:1"),
            Err(WarmPoolError::Number("base:0:512:1".into()))
        );
        assert_eq!(
            parse_specs("base:1:lots:1"),
            Err(WarmPoolError::Number("base:1:lots:1".into()))
        );
        assert_eq!(
            parse_specs("base:1:512:1,base:1:512:3"),
            Err(WarmPoolError::Duplicate("base:1:512:3".into()))
        );
    }

    #[test]
    fn new_when_host_too_small_then_capped_and_reported() {
        let specs = parse_specs("base:1:512:10").unwrap();
        // 1024 reserve + room for 3 of 512.
        let (pools, capped) = WarmPools::<u32>::new(&specs, room(1024 + 3 * 512 + 100));
        assert_eq!(pools.target(&base()), 3);
        assert_eq!(
            capped,
            vec![Capped {
                shape: base(),
                asked: 10,
                kept: 3
            }]
        );
    }

    #[test]
    fn loads_when_capped_and_filled_then_idle_target_and_asked_per_shape() {
        let specs = parse_specs("base:1:512:10,py:2:1024:1").unwrap();
        let (mut pools, _) = WarmPools::<u32>::new(&specs, room(1024 + 3 * 512 + 100));
        for (shape, n) in pools.refills(room(1024 + 3 * 512 + 100)) {
            for i in 0..n {
                assert_eq!(pools.filled(&shape, i as u32), None);
            }
        }
        let load = |shape: WarmShape, idle, target, asked| PoolLoad {
            shape,
            idle,
            target,
            asked,
        };
        assert_eq!(
            pools.loads(),
            vec![load(base(), 3, 3, 10), load(shape("py", 2, 1024), 0, 0, 1)]
        );
        pools.claim(&base());
        assert_eq!(pools.loads()[0], load(base(), 2, 3, 10));
    }

    #[test]
    fn refill_then_claim_then_refill_again() {
        let specs = parse_specs("base:1:512:2").unwrap();
        let (mut pools, capped) = WarmPools::new(&specs, room(8192));
        assert!(capped.is_empty());
        assert_eq!(pools.refills(room(8192)), vec![(base(), 2)]);
        // Filling ones count: no second round while they come up.
        assert!(pools.refills(room(8192)).is_empty());
        assert_eq!(pools.filled(&base(), 1), None);
        assert_eq!(pools.filled(&base(), 2), None);
        assert_eq!(pools.warm(), 2);
        assert_eq!(pools.claim(&base()), Some(1), "oldest first");
        assert_eq!(pools.warm(), 1);
        assert_eq!(pools.refills(room(8192)), vec![(base(), 1)]);
    }

    #[test]
    fn claim_when_shape_differs_then_none() {
        let specs = parse_specs("base:1:512:1").unwrap();
        let (mut pools, _) = WarmPools::new(&specs, room(8192));
        pools.refills(room(8192));
        pools.filled(&base(), 7);
        assert_eq!(pools.claim(&shape("base", 2, 512)), None);
        assert_eq!(pools.claim(&shape("base", 1, 1024)), None);
        assert_eq!(pools.claim(&shape("py", 1, 512)), None);
        assert!(pools.has_idle(&base()));
        assert_eq!(pools.claim(&base()), Some(7));
        assert_eq!(pools.claim(&base()), None);
    }

    #[test]
    fn fill_failed_then_refilled_later() {
        let specs = parse_specs("base:1:512:1").unwrap();
        let (mut pools, _) = WarmPools::<u32>::new(&specs, room(8192));
        assert_eq!(pools.refills(room(8192)), vec![(base(), 1)]);
        pools.fill_failed(&base());
        assert_eq!(pools.refills(room(8192)), vec![(base(), 1)]);
    }

    #[test]
    fn refills_when_memory_low_then_none_and_bounded_by_room() {
        let specs = parse_specs("base:1:512:4").unwrap();
        let (mut pools, _) = WarmPools::<u32>::new(&specs, room(8192));
        assert!(pools.refills(room(900)).is_empty());
        // Room for one more beyond the reserve.
        assert_eq!(pools.refills(room(1024 + 600)), vec![(base(), 1)]);
    }

    #[test]
    fn shrink_when_memory_low_then_kills_idle_and_stops_refilling() {
        let specs = parse_specs("base:1:512:3").unwrap();
        let (mut pools, _) = WarmPools::new(&specs, room(8192));
        pools.refills(room(8192));
        for i in 0..3 {
            pools.filled(&base(), i);
        }
        // 600 MiB short: two of 512 go, newest first.
        let killed = pools.shrink(room(1024 - 600));
        assert_eq!(killed, vec![2, 1]);
        assert_eq!(pools.warm(), 1);
        assert_eq!(pools.target(&base()), 1);
        assert!(pools.refills(room(8192)).is_empty());
        pools.regrow(room(8192));
        assert_eq!(pools.target(&base()), 3);
        assert_eq!(pools.refills(room(8192)), vec![(base(), 2)]);
    }

    #[test]
    fn drain_template_then_idle_returned_and_late_fills_rejected() {
        let specs = parse_specs("base:1:512:2,py:1:512:1").unwrap();
        let (mut pools, _) = WarmPools::new(&specs, room(8192));
        pools.refills(room(8192));
        pools.filled(&base(), 1);
        pools.filled(&shape("py", 1, 512), 9);
        let drained = pools.drain_template(&"base".parse().unwrap());
        assert_eq!(drained, vec![1]);
        // The second base sandbox was still filling: it comes back to be killed.
        assert_eq!(pools.filled(&base(), 2), Some(2));
        assert_eq!(pools.warm(), 1, "py's pool stays");
        assert_eq!(pools.drain_all(), vec![9]);
        assert_eq!(pools.warm(), 0);
    }

    #[test]
    fn mem_available_when_meminfo_then_mib() {
        let text = "MemTotal:  8000000 kB\nMemFree: 100 kB\nMemAvailable:    2097152 kB\n";
        assert_eq!(mem_available_mib(text), Some(2048));
        assert_eq!(mem_available_mib("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn filled_when_pool_full_then_returned() {
        let specs = parse_specs("base:1:512:1").unwrap();
        let (mut pools, _) = WarmPools::new(&specs, room(8192));
        pools.refills(room(8192));
        assert_eq!(pools.filled(&base(), 1), None);
        assert_eq!(pools.filled(&base(), 2), Some(2));
    }
}
