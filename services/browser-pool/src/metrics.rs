//! The browser-pool's metric names, in one place (the `/metrics` endpoint serves them).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `drover_browser_pool_acquire_wait_seconds` | histogram | |
//! | `drover_browser_pool_step_seconds` | histogram | `kind`, `outcome` |
//! | `drover_browser_pool_task_seconds` | histogram | `outcome` |
//! | `drover_browser_pool_pages_in_use` | gauge | |
//! | `drover_browser_pool_capacity` | gauge (0 while not accepting) | |
//! | `drover_browser_pool_browsers_launched_total` | counter | |
//! | `drover_browser_pool_browsers_ended_total` | counter | `reason` |
//! | `drover_browser_pool_browser_memory_bytes` | gauge | `browser` |
//! | `drover_browser_pool_system_memory_used_ratio` | gauge | |
//! | `drover_browser_pool_returned_pages_total` | counter | `then`: `parked`, `collected`, `frozen`, `reset`, `failed` |
//! | `drover_browser_pool_idle_pages_frozen_total` | counter | `outcome`: `ok`, `failed` |

/// Time a task waited for a page.
pub const ACQUIRE_WAIT: &str = "drover_browser_pool_acquire_wait_seconds";
/// One step's duration.
pub const STEP_SECONDS: &str = "drover_browser_pool_step_seconds";
/// One task's duration.
pub const TASK_SECONDS: &str = "drover_browser_pool_task_seconds";
/// Pages running a task now.
pub const PAGES_IN_USE: &str = "drover_browser_pool_pages_in_use";
/// Pages the pool offers now (0 while draining or under memory pressure).
pub const CAPACITY: &str = "drover_browser_pool_capacity";
/// Browsers started.
pub const BROWSERS_LAUNCHED: &str = "drover_browser_pool_browsers_launched_total";
/// Browsers ended, by reason.
pub const BROWSERS_ENDED: &str = "drover_browser_pool_browsers_ended_total";
/// Memory of each browser's process tree.
pub const BROWSER_MEMORY: &str = "drover_browser_pool_browser_memory_bytes";
/// Used share of system (or cgroup) memory.
pub const SYSTEM_MEMORY: &str = "drover_browser_pool_system_memory_used_ratio";
/// Shared and session pages given back, by what was done with them: parked with their
/// document (`parked`; `collected` with a garbage collection; `frozen` at once), reset to
/// about:blank (`reset`), or closed because neither worked (`failed`).
pub const RETURNED_PAGES: &str = "drover_browser_pool_returned_pages_total";
/// Parked pages frozen after idling for `freeze_after`.
pub const IDLE_PAGES_FROZEN: &str = "drover_browser_pool_idle_pages_frozen_total";
