//! Task state behind a small trait ([`TaskStore`]), with the in-memory implementation the
//! scheduler uses today (a durable one can take its place). The store owns the records, the
//! idempotency index and newest-first listing; it keeps at most `max_finished` finished
//! tasks, evicting the oldest finished first. Only the scheduler's core writes to it.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
    time::SystemTime,
};

use drover_api::{model::task::TaskSpec, pb};
use tokio::time::Instant;

/// Events retained per task for replay (`WatchTask` with `after_sequence`).
pub const MAX_EVENTS_PER_TASK: usize = 512;

/// One task as the scheduler knows it.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// The task id.
    pub id: String,
    /// Insertion number: newest-first listing and paging.
    pub seq: u64,
    /// The validated spec.
    pub spec: Arc<TaskSpec>,
    /// The spec as submitted (returned by `GetTask`), step names filled in.
    pub wire_spec: Arc<pb::TaskSpec>,
    /// Where the task is.
    pub state: pb::TaskState,
    /// The attempt running or next to run, from 1.
    pub attempt: u32,
    /// Submission time.
    pub created_at: SystemTime,
    /// First assignment time.
    pub started_at: Option<SystemTime>,
    /// Terminal time.
    pub finished_at: Option<SystemTime>,
    /// Outputs of the steps done so far, in step order.
    pub outputs: Vec<pb::StepOutput>,
    /// Bytes of `outputs`.
    pub output_bytes: usize,
    /// Why it failed, was cancelled or expired.
    pub error: Option<pb::Error>,
    /// The worker running it (or that ran its last assignment).
    pub worker_id: String,
    /// Index of the first step not yet done.
    pub next_step: usize,
    /// The whole task must end by then.
    pub deadline: Instant,
    /// It must be assigned by then, or it expires.
    pub queue_deadline: Instant,
    /// When it last entered the queue (schedule-to-start is measured from here).
    pub enqueued_at: Instant,
    /// Retained events, oldest first.
    pub events: VecDeque<pb::TaskEvent>,
    /// Sequence number of the next event.
    pub next_sequence: u64,
}

impl TaskRecord {
    /// True once the task reached a terminal state.
    pub fn is_terminal(&self) -> bool {
        is_terminal(self.state)
    }

    /// The wire form; `with_outputs` false leaves step outputs out.
    pub fn to_pb(&self, with_outputs: bool) -> pb::Task {
        pb::Task {
            id: self.id.clone(),
            spec: Some((*self.wire_spec).clone()),
            state: self.state as i32,
            attempt: self.attempt,
            created_at: Some(self.created_at.into()),
            started_at: self.started_at.map(Into::into),
            finished_at: self.finished_at.map(Into::into),
            outputs: if with_outputs {
                self.outputs.clone()
            } else {
                Vec::new()
            },
            error: self.error.clone(),
            worker_id: self.worker_id.clone(),
        }
    }
}

/// Whether `state` is terminal.
pub fn is_terminal(state: pb::TaskState) -> bool {
    matches!(
        state,
        pb::TaskState::Succeeded
            | pb::TaskState::Failed
            | pb::TaskState::Cancelled
            | pb::TaskState::Expired
    )
}

/// Where task records live.
pub trait TaskStore: Send {
    /// Adds a new record (its id and idempotency key must be new).
    fn insert(&mut self, record: TaskRecord);
    /// A record by id.
    fn get(&self, id: &str) -> Option<&TaskRecord>;
    /// A record by id, to change it. Call [`TaskStore::finished`] after making it terminal.
    fn get_mut(&mut self, id: &str) -> Option<&mut TaskRecord>;
    /// The task submitted earlier by `tenant` with `key`.
    fn by_idempotency_key(&self, tenant: &str, key: &str) -> Option<&TaskRecord>;
    /// Notes that `id` became terminal; may evict the oldest finished records.
    fn finished(&mut self, id: &str);
    /// Up to `limit` records matching `filter`, newest first, older than `before` (a `seq`).
    fn list(
        &self,
        before: Option<u64>,
        limit: usize,
        filter: &dyn Fn(&TaskRecord) -> bool,
    ) -> Vec<&TaskRecord>;
    /// Records held.
    fn len(&self) -> usize;
    /// True when no record is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-memory [`TaskStore`].
pub struct InMemoryStore {
    records: HashMap<String, TaskRecord>,
    by_seq: BTreeMap<u64, String>,
    idempotency: HashMap<(String, String), String>,
    finished_order: VecDeque<String>,
    max_finished: usize,
}

impl InMemoryStore {
    /// A store keeping at most `max_finished` finished tasks.
    pub fn new(max_finished: usize) -> Self {
        Self {
            records: HashMap::new(),
            by_seq: BTreeMap::new(),
            idempotency: HashMap::new(),
            finished_order: VecDeque::new(),
            max_finished,
        }
    }

    fn evict(&mut self, id: &str) {
        if let Some(record) = self.records.remove(id) {
            self.by_seq.remove(&record.seq);
            if let Some(key) = &record.spec.idempotency_key {
                self.idempotency
                    .remove(&(record.spec.tenant.clone(), key.clone()));
            }
        }
    }
}

impl TaskStore for InMemoryStore {
    fn insert(&mut self, record: TaskRecord) {
        if let Some(key) = &record.spec.idempotency_key {
            self.idempotency
                .insert((record.spec.tenant.clone(), key.clone()), record.id.clone());
        }
        self.by_seq.insert(record.seq, record.id.clone());
        self.records.insert(record.id.clone(), record);
    }

    fn get(&self, id: &str) -> Option<&TaskRecord> {
        self.records.get(id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut TaskRecord> {
        self.records.get_mut(id)
    }

    fn by_idempotency_key(&self, tenant: &str, key: &str) -> Option<&TaskRecord> {
        let id = self.idempotency.get(&(tenant.to_owned(), key.to_owned()))?;
        self.records.get(id)
    }

    fn finished(&mut self, id: &str) {
        self.finished_order.push_back(id.to_owned());
        while self.finished_order.len() > self.max_finished {
            if let Some(oldest) = self.finished_order.pop_front() {
                self.evict(&oldest);
            }
        }
    }

    fn list(
        &self,
        before: Option<u64>,
        limit: usize,
        filter: &dyn Fn(&TaskRecord) -> bool,
    ) -> Vec<&TaskRecord> {
        let range = match before {
            Some(before) => self.by_seq.range(..before),
            None => self.by_seq.range(..),
        };
        range
            .rev()
            .filter_map(|(_, id)| self.records.get(id))
            .filter(|r| filter(r))
            .take(limit)
            .collect()
    }

    fn len(&self) -> usize {
        self.records.len()
    }
}
