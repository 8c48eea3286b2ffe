//! The guest's CPU time as the host sees it: user plus system time of the
//! VMM process, all its threads (vCPU threads included), from
//! `/proc/<pid>/stat`. A counter per VMM process: it starts at 0 with each
//! one (a resume starts a new process) and keeps counting across an agent
//! restart that adopts the process.
use std::path::Path;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, fixed
/// at 100 by the kernel's ABI on every architecture the agent runs on).
const USER_HZ: u64 = 100;

/// The CPU time, in milliseconds, the process `pid` has used so far, or
/// `None` when it is gone or unreadable.
pub fn vmm_cpu_ms(pid: u32) -> Option<u64> {
    read_cpu_ms(&Path::new("/proc").join(pid.to_string()).join("stat"))
}

fn read_cpu_ms(stat: &Path) -> Option<u64> {
    parse_stat(&std::fs::read_to_string(stat).ok()?)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in milliseconds. The
/// command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so fields are counted after its last `)`.
pub fn parse_stat(line: &str) -> Option<u64> {
    let rest = &line[line.rfind(')')? + 1..];
    // After the name: state (3), ppid (4), ... utime (14), stime (15).
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)?.checked_mul(1000 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_when_plain_name_then_utime_plus_stime_in_ms() {
        let line = "4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 5000 0 0 0 \
                    250 37 0 0 20 0 5 0 1234 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat(line), Some(2870));
    }

    #[test]
    fn parse_stat_when_name_has_spaces_and_parens_then_fields_after_last_paren() {
        let line = "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_stat(line), Some(70));
    }

    #[test]
    fn parse_stat_when_truncated_or_garbage_then_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 4"), None);
    }

    #[test]
    fn vmm_cpu_ms_when_own_process_then_reads_and_grows() {
        // Spins until the reading has grown by 100 ms of CPU time: on a
        // loaded machine a fixed wall-clock spin may get far less CPU, so
        // only a generous bound on the wall clock stops a reading that
        // never moves.
        let pid = std::process::id();
        let before = vmm_cpu_ms(pid).expect("own /proc/<pid>/stat");
        let spin = std::time::Instant::now();
        let mut x = 0_u64;
        let mut after = before;
        while after < before + 100 && spin.elapsed() < std::time::Duration::from_secs(60) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            after = vmm_cpu_ms(pid).expect("own /proc/<pid>/stat");
        }
        assert!(
            after >= before + 100,
            "{before} -> {after} after {:?} of spinning",
            spin.elapsed()
        );
    }

    #[test]
    fn vmm_cpu_ms_when_no_such_process_then_none() {
        assert_eq!(vmm_cpu_ms(u32::MAX), None);
    }
}
