//! Printing the results as Markdown: the mode × concurrency table, the ratios of pooled to
//! the other modes, and the memory soak.

use super::{
    measure::{PoolMemory, Run, mib},
    modes::{Mode, POOL_BROWSERS},
};

/// Concurrency of the memory soak.
pub const SOAK_CONCURRENCY: usize = 4;

/// What the soak measured.
pub struct Soak {
    /// The soak's tasks.
    pub run: Run,
    /// Failed warm-up tasks.
    pub warmup_errors: usize,
    /// Memory of the started pool before the warm-up: its growth is printed on its own.
    pub before_warmup: PoolMemory,
    /// Memory after the warm-up, then after each part: (soak tasks run so far, memory).
    /// The growth the soak reports runs from the first to the last of these.
    pub samples: Vec<(usize, PoolMemory)>,
}

/// One row per mode × concurrency.
pub fn print_table(rows: &[(Mode, usize, Run)]) {
    println!("| mode | concurrency | tasks | tasks/s | p50 ms | p95 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (mode, concurrency, run) in rows {
        println!(
            "| {} | {concurrency} | {} | {:.1} | {:.0} | {:.0} | {} |",
            mode.name(),
            run.tasks,
            run.tasks_per_s(),
            run.percentile_ms(50.0),
            run.percentile_ms(95.0),
            run.errors
        );
    }
    println!();
}

/// Pooled tasks/s ÷ each other mode's, per concurrency.
pub fn print_ratios(rows: &[(Mode, usize, Run)], concurrency: &[usize]) {
    let rate = |mode: Mode, c: usize| {
        rows.iter()
            .find(|(m, rc, _)| *m == mode && *rc == c)
            .map_or(0.0, |(_, _, run)| run.tasks_per_s())
    };
    println!(
        "| concurrency | pooled ÷ page-per-task | pooled ÷ context-per-task | pooled ÷ browser-per-task |"
    );
    println!("|---:|---:|---:|---:|");
    for &c in concurrency {
        let pooled = rate(Mode::Pooled, c);
        let ratio = |other: Mode| match rate(other, c) {
            r if r > 0.0 => format!("{:.1}×", pooled / r),
            _ => "n/a".into(),
        };
        println!(
            "| {c} | {} | {} | {} |",
            ratio(Mode::PagePerTask),
            ratio(Mode::ContextPerTask),
            ratio(Mode::BrowserPerTask)
        );
    }
    println!();
}

/// The soak's throughput and the memory growth of the pool's browsers.
pub fn print_soak(soak: &Soak, warmup: usize) {
    let growth = |pick: fn(&PoolMemory) -> u64| {
        let first = soak.samples.first().map_or(0, |(_, m)| pick(m));
        let last = soak.samples.last().map_or(0, |(_, m)| pick(m));
        let percent = if first > 0 {
            (last as f64 - first as f64) / first as f64 * 100.0
        } else {
            f64::NAN
        };
        (first, last, percent)
    };
    println!(
        "Memory soak: {} pooled tasks at concurrency {SOAK_CONCURRENCY} on {POOL_BROWSERS} \
         browsers (recycling off), run after {} warm-up tasks (not counted): {:.1} tasks/s, \
         p50 {:.0} ms, p95 {:.0} ms, {} errors ({} in warm-up).\n",
        soak.run.tasks,
        warmup,
        soak.run.tasks_per_s(),
        soak.run.percentile_ms(50.0),
        soak.run.percentile_ms(95.0),
        soak.run.errors,
        soak.warmup_errors
    );
    println!("| soak tasks done | processes | PSS MiB | private MiB |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| before warm-up | {} | {:.1} | {:.1} |",
        soak.before_warmup.processes,
        mib(soak.before_warmup.pss),
        mib(soak.before_warmup.private)
    );
    for (done, memory) in &soak.samples {
        println!(
            "| {done} | {} | {:.1} | {:.1} |",
            memory.processes,
            mib(memory.pss),
            mib(memory.private)
        );
    }
    let (before, after, pss_growth) = growth(|m| m.pss);
    let (_, _, private_growth) = growth(|m| m.private);
    let cold = soak.before_warmup.pss;
    let warmup_growth = if cold > 0 {
        (before as f64 - cold as f64) / cold as f64 * 100.0
    } else {
        f64::NAN
    };
    println!(
        "\nWarm-up ({warmup} tasks; the default 500 brings every pooled page to its steady size): \
         PSS {:.1} → {:.1} MiB, {warmup_growth:+.1}%; not part of the growth below.",
        mib(cold),
        mib(before)
    );
    println!(
        "Chromium trees' memory (PSS, summed) over the soak: before (after the warm-up) {:.1} \
         MiB, after {:.1} MiB, growth {pss_growth:+.1}% (asked: < 5%); private memory growth \
         {private_growth:+.1}%.",
        mib(before),
        mib(after)
    );
    let pids = |m: Option<&(usize, PoolMemory)>| m.map(|(_, m)| m.pids.clone()).unwrap_or_default();
    let (first_pids, last_pids) = (pids(soak.samples.first()), pids(soak.samples.last()));
    if first_pids != last_pids {
        println!(
            "Warning: the browsers changed during the soak (pids {first_pids:?} → \
             {last_pids:?}); the growth figures compare different browsers."
        );
    }
    if !soak.run.error_samples.is_empty() {
        println!("Soak errors: {:?}", soak.run.error_samples);
    }
    println!();
}
