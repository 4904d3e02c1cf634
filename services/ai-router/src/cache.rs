//! The exact-match response cache, bounded by entries and age, with single flight: concurrent
//! identical misses make one upstream call, and every waiter gets its result (answer or error).
//!
//! Every entry lives the same TTL, so insertion order is expiry order: evicting the oldest
//! insertion when full also evicts the first to expire, and one `VecDeque` beside the map is
//! the whole eviction policy. Expired entries are dropped when met and when evicted.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

/// A bounded, TTL'd map with single-flight fills.
pub struct Cache<V: Clone, E: Clone> {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner<V, E>>,
}

/// A fill in progress: waiters watch for its result; `None` until it lands.
type Flight<V, E> = watch::Receiver<Option<Result<V, E>>>;

struct Inner<V, E> {
    entries: HashMap<Arc<str>, (V, Instant)>,
    order: VecDeque<Arc<str>>,
    flights: HashMap<Arc<str>, Flight<V, E>>,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A stored entry.
    Hit,
    /// Another caller's fill of the same key, waited for.
    Coalesced,
    /// This caller's own fetch.
    Fetched,
}

/// Removes the flight when the leader finishes or is cancelled, so a cancelled leader never
/// strands its waiters: they see the channel close and try again.
struct FlightGuard<'a, V: Clone, E: Clone> {
    cache: &'a Cache<V, E>,
    key: Arc<str>,
}

impl<V: Clone, E: Clone> Drop for FlightGuard<'_, V, E> {
    fn drop(&mut self) {
        self.cache.lock().flights.remove(&self.key);
    }
}

impl<V: Clone, E: Clone> Cache<V, E> {
    /// A cache of at most `capacity` entries, each kept `ttl`. Capacity 0 stores nothing but
    /// still coalesces concurrent identical calls.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                flights: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V, E>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Entries stored now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored value for `key`, if fresh.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                inner.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` under `key`, evicting the oldest entries beyond capacity.
    pub fn put(&self, key: &str, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        let key: Arc<str> = Arc::from(key);
        let expires = Instant::now() + self.ttl;
        if inner
            .entries
            .insert(Arc::clone(&key), (value, expires))
            .is_none()
        {
            inner.order.push_back(key);
        }
        while inner.entries.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.entries.remove(&oldest);
        }
        // Keys re-inserted after removal leave stale order slots; keep the queue bounded.
        if inner.order.len() > self.capacity.saturating_mul(2) {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|k| entries.contains_key(k));
        }
    }

    /// The value for `key`: stored, or from an identical fill under way, or fetched by
    /// `fetch` (at most one fetch per key at a time). A successful fetch is stored.
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> (Result<V, E>, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let mut fetch = Some(fetch);
        loop {
            match self.look_up(key) {
                Step::Hit(value) => return (Ok(value), Source::Hit),
                Step::Wait(mut flight) => match flight.wait_for(Option::is_some).await {
                    Ok(landed) => {
                        if let Some(result) = landed.clone() {
                            return (result, Source::Coalesced);
                        }
                    }
                    // The leader was cancelled: try again (one of the waiters leads).
                    Err(_) => continue,
                },
                Step::Lead(sender, key) => {
                    let guard = FlightGuard { cache: self, key };
                    let Some(fetch) = fetch.take() else {
                        unreachable!("a caller leads at most one flight");
                    };
                    let result = fetch().await;
                    if let Ok(value) = &result {
                        self.put(&guard.key, value.clone());
                    }
                    let _ = sender.send(Some(result.clone()));
                    drop(guard);
                    return (result, Source::Fetched);
                }
            }
        }
    }

    /// One look under the lock: a fresh entry, a flight to wait for, or the lead of a new one.
    fn look_up(&self, key: &str) -> Step<V, E> {
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => return Step::Hit(value.clone()),
            Some(_) => {
                inner.entries.remove(key);
            }
            None => {}
        }
        if let Some(flight) = inner.flights.get(key) {
            return Step::Wait(flight.clone());
        }
        let (sender, receiver) = watch::channel(None);
        let key: Arc<str> = Arc::from(key);
        inner.flights.insert(Arc::clone(&key), receiver);
        Step::Lead(sender, key)
    }
}

/// What [`Cache::look_up`] found.
enum Step<V, E> {
    Hit(V),
    Wait(Flight<V, E>),
    Lead(watch::Sender<Option<Result<V, E>>>, Arc<str>),
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_capacity_evicts_the_oldest() {
        let cache: Cache<u32, ()> = Cache::new(2, Duration::from_secs(10));
        cache.put("a", 1);
        cache.put("b", 2);
        cache.put("c", 3);
        assert_eq!(cache.get("a"), None, "the oldest went first");
        assert_eq!(cache.get("b"), Some(2));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(cache.get("c"), None, "expired");
    }

    #[tokio::test]
    async fn concurrent_misses_make_one_fetch() {
        let cache: Arc<Cache<u32, String>> = Arc::new(Cache::new(10, Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = Arc::clone(&cache);
            let fetches = Arc::clone(&fetches);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("k", || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        let mut sources = Vec::new();
        for task in tasks {
            let (value, source) = task.await.expect("task");
            assert_eq!(value, Ok(7));
            sources.push(source);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!(sources.iter().filter(|s| **s == Source::Fetched).count(), 1);
        assert_eq!(
            cache.get_or_fetch("k", || async { Ok(0) }).await.1,
            Source::Hit
        );
    }

    #[tokio::test]
    async fn errors_reach_every_waiter_and_are_not_stored() {
        let cache: Arc<Cache<u32, String>> = Arc::new(Cache::new(10, Duration::from_secs(60)));
        let leader = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_fetch("k", || async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err("boom".to_owned())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (follower, source) = cache.get_or_fetch("k", || async { Ok(1) }).await;
        assert_eq!(
            (follower, source),
            (Err("boom".to_owned()), Source::Coalesced)
        );
        assert_eq!(leader.await.expect("leader").0, Err("boom".to_owned()));
        assert_eq!(cache.get("k"), None);
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_the_fetch_to_a_waiter() {
        let cache: Arc<Cache<u32, String>> = Arc::new(Cache::new(10, Duration::from_secs(60)));
        let leader = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_fetch("k", std::future::pending::<Result<u32, String>>)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let follower = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.get_or_fetch("k", || async { Ok(5) }).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        leader.abort();
        let (value, source) = follower.await.expect("follower");
        assert_eq!((value, source), (Ok(5), Source::Fetched));
    }
}
