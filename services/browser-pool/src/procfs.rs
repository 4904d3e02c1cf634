//! What `/proc` (and cgroup v2) says about processes and memory: the members of a Chromium
//! process tree, their summed memory, and how full the machine (or container) is. Linux only,
//! which is where Drover runs.

use std::{collections::HashSet, fs};

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// Parent's id.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// State letter (`R`, `S`, `Z` for a zombie, ...).
    pub state: char,
}

/// Reads `/proc/<pid>/stat`; `None` if the process is gone.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = fields_after_name(&text)?;
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        ppid,
        pgrp,
        state,
    })
}

/// CPU time from `/proc/<pid>/stat`, in clock ticks (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    /// User and system time of the process itself.
    pub own: u64,
    /// User and system time of the children it has waited for (exited and reaped).
    pub reaped_children: u64,
}

/// Reads a process's CPU time; `None` if the process is gone.
pub fn cpu_ticks(pid: i32) -> Option<CpuTicks> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // utime, stime, cutime and cstime are fields 14 to 17; the fields after the name start
    // at field 3.
    let times: Vec<u64> = fields_after_name(&text)?
        .skip(11)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [utime, stime, cutime, cstime] = times[..] else {
        return None;
    };
    Some(CpuTicks {
        own: utime + stime,
        reaped_children: cutime + cstime,
    })
}

/// The fields of a `stat` line after the command name, from field 3 (the state) on. The name
/// is in parentheses and may itself hold spaces or parentheses: the fields start after the
/// *last* ')'.
fn fields_after_name(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace())
}

/// Every process currently visible in `/proc`.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// `root` and all its descendants, plus every member of process group `pgrp`: the set a
/// browser's shutdown must kill and reap. Chromium's helpers normally share the group, but
/// walking the tree as well catches any that moved to a group of their own.
pub fn process_tree(root: i32, pgrp: i32) -> Vec<ProcStat> {
    let all = all_processes();
    let mut members: HashSet<i32> = HashSet::from([root]);
    // Parents precede children only by luck of numbering, so iterate to a fixed point.
    loop {
        let before = members.len();
        for p in &all {
            if members.contains(&p.ppid) || p.pgrp == pgrp {
                members.insert(p.pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    all.into_iter()
        .filter(|p| members.contains(&p.pid))
        .collect()
}

/// Processes whose command line mentions `path` (e.g. a browser's folder).
pub fn processes_mentioning(path: &std::path::Path) -> Vec<ProcStat> {
    let needle = path.as_os_str().as_encoded_bytes();
    all_processes()
        .into_iter()
        .filter(|p| {
            fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Memory of one process: PSS from `smaps_rollup` (shared pages split fairly between the
/// processes that map them, so a tree's sum is not inflated), else RSS from `statm`.
pub fn process_memory_bytes(pid: i32) -> Option<u64> {
    let pss_kb = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|rollup| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    if let Some(kb) = pss_kb {
        return Some(kb * 1024);
    }
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * 4096)
}

/// Summed memory of a browser's whole process tree.
pub fn tree_memory_bytes(root: i32, pgrp: i32) -> u64 {
    process_tree(root, pgrp)
        .iter()
        .filter(|p| p.state != 'Z')
        .filter_map(|p| process_memory_bytes(p.pid))
        .sum()
}

/// How full memory is, 0.0..=1.0: the cgroup's usage against its limit when this process
/// runs under a cgroup v2 limit, else the machine's `MemAvailable` against `MemTotal`.
pub fn memory_used_ratio() -> Option<f64> {
    if let Some(ratio) = cgroup_used_ratio() {
        return Some(ratio);
    }
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| (1.0 - available / total).clamp(0.0, 1.0))
}

fn cgroup_used_ratio() -> Option<f64> {
    let max = fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    let max: f64 = max.trim().parse().ok()?; // "max" (no limit) fails to parse: use meminfo
    let current: f64 = fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (max > 0.0).then(|| (current / max).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let stat = stat(me).expect("own stat");
        assert_eq!(stat.pid, me);
        assert!(stat.ppid > 0);
        assert!(process_memory_bytes(me).unwrap_or(0) > 0);
        let tree = process_tree(me, -1);
        assert!(tree.iter().any(|p| p.pid == me));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let me = std::process::id() as i32;
        let before = cpu_ticks(me).expect("own cpu time");
        // Spin until the kernel has charged at least one more tick (10 ms at 100 Hz), for at
        // most 5 s of wall time.
        let started = std::time::Instant::now();
        let mut spins = 0u64;
        while cpu_ticks(me).expect("own cpu time").own == before.own
            && started.elapsed() < std::time::Duration::from_secs(5)
        {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        assert!(cpu_ticks(me).expect("own cpu time").own > before.own);
        assert_eq!(cpu_ticks(-1), None);
    }

    #[test]
    fn memory_ratio_is_a_fraction() {
        let ratio = memory_used_ratio().expect("meminfo");
        assert!((0.0..=1.0).contains(&ratio));
    }
}
