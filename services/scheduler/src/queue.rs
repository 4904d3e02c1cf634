//! The ready queue: task ids by priority, fair across tenants within a priority (weighted
//! round-robin: a tenant of weight w is served up to w times in a row before the next tenant's
//! turn), bounded in total. The caller says which tasks can be placed right now, so a task no
//! worker can take (selector, affinity) never blocks the ones behind it.

use std::collections::{HashMap, VecDeque};

use drover_api::model::task::Priority;

/// How deep into each tenant's lane a pick looks for a placeable task.
const LANE_SCAN: usize = 32;

/// The queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Task ids waiting to be assigned.
pub struct FairQueue {
    levels: [Level; 4],
    len: usize,
    capacity: usize,
    weights: HashMap<String, u32>,
}

#[derive(Default)]
struct Level {
    /// Tenants with queued tasks, in serving order; the front is served next.
    ring: VecDeque<String>,
    lanes: HashMap<String, Lane>,
}

struct Lane {
    tasks: VecDeque<String>,
    /// Picks left in this tenant's current turn.
    turn_left: u32,
}

fn level_index(priority: Priority) -> usize {
    match priority {
        Priority::Urgent => 0,
        Priority::High => 1,
        Priority::Normal => 2,
        Priority::Low => 3,
    }
}

impl FairQueue {
    /// A queue of at most `capacity` tasks; `weights` gives tenants other than weight 1.
    pub fn new(capacity: usize, weights: HashMap<String, u32>) -> Self {
        Self {
            levels: Default::default(),
            len: 0,
            capacity,
            weights,
        }
    }

    fn weight(&self, tenant: &str) -> u32 {
        self.weights.get(tenant).copied().unwrap_or(1).max(1)
    }

    /// Tasks queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tasks queued at `priority`.
    pub fn len_at(&self, priority: Priority) -> usize {
        self.levels[level_index(priority)]
            .lanes
            .values()
            .map(|l| l.tasks.len())
            .sum()
    }

    /// Tasks ahead of a new task of `priority` (same or higher priority).
    pub fn ahead_of(&self, priority: Priority) -> usize {
        (0..=level_index(priority))
            .map(|i| {
                self.levels[i]
                    .lanes
                    .values()
                    .map(|l| l.tasks.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// Appends a task. `front` puts it at the head of its tenant's lane (a requeued task
    /// keeps its place in line rather than going to the back).
    pub fn push(
        &mut self,
        priority: Priority,
        tenant: &str,
        id: String,
        front: bool,
    ) -> Result<(), QueueFull> {
        if self.len >= self.capacity {
            return Err(QueueFull);
        }
        let weight = self.weight(tenant);
        let level = &mut self.levels[level_index(priority)];
        let lane = level.lanes.entry(tenant.to_owned()).or_insert_with(|| {
            level.ring.push_back(tenant.to_owned());
            Lane {
                tasks: VecDeque::new(),
                turn_left: weight,
            }
        });
        if front {
            lane.tasks.push_front(id);
        } else {
            lane.tasks.push_back(id);
        }
        self.len += 1;
        Ok(())
    }

    /// Removes a task wherever it is (cancel, expiry). Returns whether it was queued.
    pub fn remove(&mut self, priority: Priority, tenant: &str, id: &str) -> bool {
        let level = &mut self.levels[level_index(priority)];
        let Some(lane) = level.lanes.get_mut(tenant) else {
            return false;
        };
        let Some(at) = lane.tasks.iter().position(|t| t == id) else {
            return false;
        };
        lane.tasks.remove(at);
        self.len -= 1;
        if lane.tasks.is_empty() {
            level.lanes.remove(tenant);
            level.ring.retain(|t| t != tenant);
        }
        true
    }

    /// Takes the next task `placeable` accepts: highest priority first; within a priority,
    /// tenants in turn. Tasks it refuses stay where they are.
    pub fn pop(&mut self, mut placeable: impl FnMut(&str) -> bool) -> Option<String> {
        for index in 0..self.levels.len() {
            let tenants = self.levels[index].ring.len();
            for position in 0..tenants {
                let level = &mut self.levels[index];
                let Some(tenant) = level.ring.get(position).cloned() else {
                    break;
                };
                let Some(lane) = level.lanes.get_mut(&tenant) else {
                    continue;
                };
                let Some(at) = lane
                    .tasks
                    .iter()
                    .take(LANE_SCAN)
                    .position(|id| placeable(id))
                else {
                    continue;
                };
                let id = lane.tasks.remove(at)?;
                self.len -= 1;
                lane.turn_left = lane.turn_left.saturating_sub(1);
                let turn_over = lane.turn_left == 0;
                let empty = lane.tasks.is_empty();
                // Serving a tenant out of turn (the ones before it had nothing placeable)
                // does not cost it its place, only its turn's picks.
                if empty {
                    level.lanes.remove(&tenant);
                    level.ring.remove(position);
                } else if turn_over {
                    let weight = self.weights.get(&tenant).copied().unwrap_or(1).max(1);
                    let level = &mut self.levels[index];
                    if let Some(lane) = level.lanes.get_mut(&tenant) {
                        lane.turn_left = weight;
                    }
                    if let Some(t) = level.ring.remove(position) {
                        level.ring.push_back(t);
                    }
                }
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(weights: &[(&str, u32)]) -> FairQueue {
        FairQueue::new(
            100,
            weights.iter().map(|(t, w)| (t.to_string(), *w)).collect(),
        )
    }

    fn drain(q: &mut FairQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop(|_| true)).collect()
    }

    #[test]
    fn higher_priorities_first_then_tenants_in_turn() {
        let mut q = queue(&[]);
        for i in 0..3 {
            q.push(Priority::Normal, "a", format!("a{i}"), false)
                .unwrap();
        }
        q.push(Priority::Normal, "b", "b0".into(), false).unwrap();
        q.push(Priority::Urgent, "c", "c0".into(), false).unwrap();
        q.push(Priority::Low, "b", "b-low".into(), false).unwrap();
        assert_eq!(drain(&mut q), ["c0", "a0", "b0", "a1", "a2", "b-low"]);
        assert!(q.is_empty());
    }

    #[test]
    fn weights_give_tenants_more_turns() {
        let mut q = queue(&[("big", 3)]);
        for i in 0..6 {
            q.push(Priority::Normal, "big", format!("B{i}"), false)
                .unwrap();
            q.push(Priority::Normal, "small", format!("s{i}"), false)
                .unwrap();
        }
        let order = drain(&mut q);
        assert_eq!(
            &order[..8],
            ["B0", "B1", "B2", "s0", "B3", "B4", "B5", "s1"]
        );
    }

    #[test]
    fn unplaceable_tasks_do_not_block_others_and_keep_their_place() {
        let mut q = queue(&[]);
        q.push(Priority::Normal, "a", "stuck".into(), false)
            .unwrap();
        q.push(Priority::Normal, "a", "a1".into(), false).unwrap();
        q.push(Priority::Normal, "b", "b0".into(), false).unwrap();
        assert_eq!(q.pop(|id| id != "stuck").as_deref(), Some("a1"));
        assert_eq!(q.pop(|id| id != "stuck").as_deref(), Some("b0"));
        assert_eq!(q.pop(|id| id != "stuck"), None);
        assert_eq!(q.pop(|_| true).as_deref(), Some("stuck"));
    }

    #[test]
    fn the_queue_is_bounded_and_removal_frees_room() {
        let mut q = FairQueue::new(2, HashMap::new());
        q.push(Priority::Normal, "a", "1".into(), false).unwrap();
        q.push(Priority::High, "a", "2".into(), false).unwrap();
        assert_eq!(
            q.push(Priority::Normal, "a", "3".into(), false),
            Err(QueueFull)
        );
        assert!(q.remove(Priority::Normal, "a", "1"));
        assert!(!q.remove(Priority::Normal, "a", "1"));
        q.push(Priority::Low, "b", "3".into(), false).unwrap();
        assert_eq!(q.ahead_of(Priority::Normal), 1);
        assert_eq!(drain(&mut q), ["2", "3"]);
    }

    #[test]
    fn a_requeued_task_goes_to_the_front_of_its_lane() {
        let mut q = queue(&[]);
        q.push(Priority::Normal, "a", "a1".into(), false).unwrap();
        q.push(Priority::Normal, "a", "retry".into(), true).unwrap();
        assert_eq!(drain(&mut q), ["retry", "a1"]);
    }
}
