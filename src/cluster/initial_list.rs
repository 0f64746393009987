//! How a watch fills its cache, at start-up and again after its watch
//! expired: one streaming watch (Kubernetes' watch-list: `sendInitialEvents=true`,
//! the current objects as ADDED events, ended by a bookmark annotated
//! `k8s.io/initial-events-end`), or lists of 500 objects a page before the
//! watch. Streaming is one request where paging takes one per 500 objects
//! (30 for 15,000 pods), and the server sends from its watch cache instead of
//! building every page.
//!
//! Not every server streams. One with the `WatchList` feature gate off (beta
//! and on by default in 1.36, off by default before 1.32) answers the watch
//! with 422 Invalid (`sendInitialEvents is forbidden for watch unless the
//! WatchList feature gate is enabled`); one older than 1.27 ignores the
//! parameter: it sends the objects but never the end bookmark, so the cache
//! would never be ready. With `--initial-list=auto` (the default) the watches
//! stream, and every watch of the process falls back to paged lists, once and
//! for good, when one is refused (400 or 422) or when the namespaces, a small
//! kind whose list ends within a second on a server that streams, get no end
//! bookmark within [`END_LIMIT`]. No request is spent on finding out.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cli::InitialList;

/// How long a streaming list of namespaces may take before the server is
/// taken for one that ignores `sendInitialEvents` (it never ends the list).
pub const END_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Streaming,
    Paged,
}

/// The mode of every watch of this process, shared between them: streaming
/// until a server is found to refuse it (in `auto`), then paged.
#[derive(Clone)]
pub struct Lists {
    mode: Arc<watch::Sender<Mode>>,
    fallback: bool,
    /// Whether "streaming" has been logged.
    confirmed: Arc<AtomicBool>,
}

impl Lists {
    pub fn new(choice: InitialList) -> Self {
        let (mode, fallback) = match choice {
            InitialList::Auto => (Mode::Streaming, true),
            InitialList::Stream => (Mode::Streaming, false),
            InitialList::Paged => (Mode::Paged, false),
        };
        match choice {
            InitialList::Auto => {}
            InitialList::Stream => tracing::info!(
                "initial lists: streaming (--initial-list=stream, no fallback to paged lists)"
            ),
            InitialList::Paged => tracing::info!("initial lists: paged (--initial-list=paged)"),
        }
        Self {
            mode: Arc::new(watch::Sender::new(mode)),
            fallback,
            confirmed: Arc::new(AtomicBool::new(!fallback)),
        }
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Switches every watch to paged lists (in `auto` only), logging why
    /// the first time; true if this call switched.
    pub fn refused(&self, why: &str) -> bool {
        if !self.fallback {
            return false;
        }
        let switched = self.mode.send_if_modified(|m| {
            let was = *m;
            *m = Mode::Paged;
            was == Mode::Streaming
        });
        if switched {
            tracing::warn!(
                reason = why,
                "initial lists: paged (the API server does not stream lists)"
            );
        }
        switched
    }

    /// A streaming list ended: logs, once, that streaming works.
    fn streamed(&self) {
        if self.mode() == Mode::Streaming && !self.confirmed.swap(true, Ordering::Relaxed) {
            tracing::info!("initial lists: streaming (the API server ended a streaming list)");
        }
    }

    fn config(&self, base: &watcher::Config, mode: Mode) -> watcher::Config {
        match mode {
            Mode::Streaming => base.clone().streaming_lists(),
            Mode::Paged => base.clone(),
        }
    }
}

/// 400 Bad Request or 422 Invalid to a streaming watch: the server does not
/// take `sendInitialEvents` (the `WatchList` gate off).
fn refuses(code: u16) -> bool {
    code == 400 || code == 422
}

/// The server's message when a watcher step is a streaming watch refused.
pub fn refusal<K>(step: &Result<Event<K>, watcher::Error>) -> Option<&str> {
    match step {
        Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))) if refuses(status.code) => {
            Some(&status.message)
        }
        _ => None,
    }
}

type Steps<K> = Pin<Box<dyn Stream<Item = watcher::Result<Event<K>>> + Send>>;

struct State<K, F> {
    make: F,
    lists: Lists,
    changes: watch::Receiver<Mode>,
    mode: Mode,
    steps: Steps<K>,
    /// Between the start of a list (or before the first) and its end: only
    /// then does a switch of mode restart the watch, since a list that ended
    /// streaming proved the server streams.
    listing: bool,
    /// When the current list started, and how long it may stream.
    since: Instant,
    limit: Option<Duration>,
}

impl<K, F: FnMut(Mode) -> Steps<K>> State<K, F> {
    fn restart(&mut self, mode: Mode) {
        self.mode = mode;
        self.steps = (self.make)(mode);
        self.since = Instant::now();
    }

    /// When a streaming list has run out of time, if it may.
    fn deadline(&self) -> Option<Instant> {
        let limit = self.limit?;
        (self.mode == Mode::Streaming && self.listing).then(|| self.since + limit)
    }
}

/// kube's watcher for `api` and `base` in the mode of `lists`, restarted
/// with paged lists when that mode falls back while it is still listing;
/// with `limit`, a streaming list that has not ended after it falls back
/// (for the namespaces: see the module's comment). No backoff: the caller
/// adds it.
pub fn watch<K>(
    api: Api<K>,
    base: watcher::Config,
    lists: &Lists,
    limit: Option<Duration>,
) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + use<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let config = lists.clone();
    let make = move |mode| -> Steps<K> {
        kube::runtime::watcher(api.clone(), config.config(&base, mode)).boxed()
    };
    switching(make, lists, limit)
}

fn switching<K, F>(
    mut make: F,
    lists: &Lists,
    limit: Option<Duration>,
) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + use<K, F>
where
    K: Send + 'static,
    F: FnMut(Mode) -> Steps<K> + Send + 'static,
{
    let mut changes = lists.mode.subscribe();
    let mode = *changes.borrow_and_update();
    let steps = make(mode);
    let state = State {
        make,
        lists: lists.clone(),
        changes,
        mode,
        steps,
        listing: true,
        since: Instant::now(),
        limit,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.mode == Mode::Streaming && s.lists.mode() == Mode::Paged && s.listing {
                s.restart(Mode::Paged);
            }
            let step = if s.mode == Mode::Streaming {
                let deadline = s.deadline();
                tokio::select! {
                    step = s.steps.next() => step,
                    changed = s.changes.changed() => {
                        if changed.is_err() {
                            // Cannot happen (the state holds a sender); stop
                            // listening rather than spin.
                            s.mode = Mode::Paged;
                        }
                        continue;
                    }
                    _ = sleep_until(deadline) => {
                        let limit = s.limit.unwrap_or_default().as_secs_f64();
                        s.lists.refused(&format!(
                            "a streaming list did not end (no k8s.io/initial-events-end bookmark) within {limit}s"
                        ));
                        // Refused or not (`stream` never falls back), wait no more.
                        s.limit = None;
                        continue;
                    }
                }
            } else {
                s.steps.next().await
            };
            let step = step?;
            match super::relist_change(&step) {
                Some(true) => {
                    s.listing = true;
                    s.since = Instant::now();
                }
                Some(false) => {
                    s.listing = false;
                    if s.mode == Mode::Streaming {
                        s.lists.streamed();
                    }
                }
                None => {}
            }
            if s.mode == Mode::Streaming
                && let Some(why) = refusal(&step)
            {
                // Refused here, or already by another watch: list in pages.
                s.lists.refused(why);
                if s.lists.mode() == Mode::Paged {
                    s.restart(Mode::Paged);
                }
            }
            return Some((step, s));
        }
    })
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::core::Status;

    fn refused(code: u16) -> Result<Event<Pod>, watcher::Error> {
        let status = Status::failure(
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            "Invalid",
        )
        .with_code(code);
        Err(watcher::Error::WatchStartFailed(kube::Error::Api(
            Box::new(status),
        )))
    }

    #[test]
    fn a_refused_streaming_watch_is_told_from_other_errors() {
        assert!(refusal(&refused(422)).is_some_and(|m| m.contains("WatchList")));
        assert!(refusal(&refused(400)).is_some());
        // Forbidden, throttled, unavailable: the same under paged lists.
        for code in [403, 429, 500, 503] {
            assert_eq!(refusal(&refused(code)), None, "{code}");
        }
        let gone = Status::failure("too old resource version", "Expired").with_code(422);
        let during: Result<Event<Pod>, _> = Err(watcher::Error::WatchError(Box::new(gone)));
        assert_eq!(refusal(&during), None, "an error inside a started watch");
        assert_eq!(refusal::<Pod>(&Ok(Event::Init)), None);
    }

    #[test]
    fn auto_falls_back_once_and_the_forced_modes_never() {
        let auto = Lists::new(InitialList::Auto);
        assert_eq!(auto.mode(), Mode::Streaming);
        assert!(auto.refused("422"));
        assert!(
            !auto.refused("422 again"),
            "switched (and logged) only once"
        );
        assert_eq!(auto.clone().mode(), Mode::Paged, "shared by clones");

        let stream = Lists::new(InitialList::Stream);
        assert!(!stream.refused("422"));
        assert_eq!(stream.mode(), Mode::Streaming);
        assert_eq!(Lists::new(InitialList::Paged).mode(), Mode::Paged);
    }

    type Step = Result<Event<Pod>, watcher::Error>;
    type Fake = Pin<Box<dyn Stream<Item = Step> + Send>>;
    type Started = Arc<std::sync::Mutex<Vec<Mode>>>;

    /// A watch that yields `items`, then nothing more (as a quiet watch).
    fn steps(items: Vec<Step>) -> Steps<Pod> {
        futures::stream::iter(items)
            .chain(futures::stream::pending())
            .boxed()
    }

    /// A switching watch over made-up steps per mode; the modes it was
    /// started in are recorded.
    fn fake(
        lists: &Lists,
        limit: Option<Duration>,
        streaming: fn() -> Vec<Step>,
        paged: fn() -> Vec<Step>,
    ) -> (Fake, Started) {
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = started.clone();
        let make = move |mode| {
            log.lock().expect("lock").push(mode);
            steps(match mode {
                Mode::Streaming => streaming(),
                Mode::Paged => paged(),
            })
        };
        (switching(make, lists, limit).boxed(), started)
    }

    fn paged_list() -> Vec<Step> {
        vec![
            Ok(Event::Init),
            Ok(Event::InitApply(Pod::default())),
            Ok(Event::InitDone),
        ]
    }

    async fn take(s: &mut Fake, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let step = tokio::time::timeout(Duration::from_secs(5), s.next())
                .await
                .expect("a step within 5 s")
                .expect("the watch goes on");
            out.push(match step {
                Ok(Event::Init) => "Init".to_string(),
                Ok(Event::InitApply(_)) => "InitApply".to_string(),
                Ok(Event::InitDone) => "InitDone".to_string(),
                Ok(_) => "Event".to_string(),
                Err(e) => format!("Err({e})"),
            });
        }
        out
    }

    async fn quiet(s: &mut Fake) -> bool {
        tokio::time::timeout(Duration::from_millis(200), s.next())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_refused_stream_turns_every_listing_watch_to_pages() {
        let lists = Lists::new(InitialList::Auto);
        let (mut refused, modes_a) = fake(&lists, None, || vec![refused(422)], paged_list);
        let (mut other, modes_b) = fake(
            &lists,
            None,
            || vec![Ok(Event::Init), Ok(Event::InitApply(Pod::default()))],
            paged_list,
        );
        assert_eq!(take(&mut other, 2).await, ["Init", "InitApply"]);
        let first = take(&mut refused, 1).await;
        assert!(first[0].contains("WatchList"), "{first:?}");
        assert_eq!(lists.mode(), Mode::Paged);
        assert_eq!(
            take(&mut refused, 3).await,
            ["Init", "InitApply", "InitDone"]
        );
        // The other was still listing: it lists again, in pages.
        assert_eq!(take(&mut other, 3).await, ["Init", "InitApply", "InitDone"]);
        assert_eq!(
            *modes_a.lock().expect("lock"),
            [Mode::Streaming, Mode::Paged]
        );
        assert_eq!(
            *modes_b.lock().expect("lock"),
            [Mode::Streaming, Mode::Paged]
        );
    }

    #[tokio::test]
    async fn a_watch_whose_stream_ended_keeps_it() {
        let lists = Lists::new(InitialList::Auto);
        let (mut done, modes) = fake(
            &lists,
            None,
            || vec![Ok(Event::Init), Ok(Event::InitDone)],
            paged_list,
        );
        assert_eq!(take(&mut done, 2).await, ["Init", "InitDone"]);
        assert!(lists.refused("another watch was refused"));
        assert!(
            quiet(&mut done).await,
            "restarted though its list had ended"
        );
        assert_eq!(*modes.lock().expect("lock"), [Mode::Streaming]);
    }

    #[tokio::test]
    async fn a_stream_that_never_ends_falls_back_after_its_limit() {
        let lists = Lists::new(InitialList::Auto);
        let never_ends = || vec![Ok(Event::Init), Ok(Event::InitApply(Pod::default()))];
        let (mut ns, _) = fake(
            &lists,
            Some(Duration::from_millis(50)),
            never_ends,
            paged_list,
        );
        let (mut other, _) = fake(&lists, None, never_ends, paged_list);
        assert_eq!(take(&mut other, 2).await, ["Init", "InitApply"]);
        assert_eq!(
            take(&mut ns, 5).await,
            ["Init", "InitApply", "Init", "InitApply", "InitDone"]
        );
        assert_eq!(lists.mode(), Mode::Paged);
        assert_eq!(take(&mut other, 3).await, ["Init", "InitApply", "InitDone"]);
    }

    #[tokio::test]
    async fn forced_streaming_never_falls_back() {
        let lists = Lists::new(InitialList::Stream);
        let (mut refused, modes) = fake(
            &lists,
            Some(Duration::from_millis(50)),
            || vec![refused(422), Ok(Event::Init)],
            paged_list,
        );
        let steps = take(&mut refused, 2).await;
        assert!(
            steps[0].starts_with("Err") && steps[1] == "Init",
            "{steps:?}"
        );
        assert!(quiet(&mut refused).await);
        assert_eq!(lists.mode(), Mode::Streaming);
        assert_eq!(*modes.lock().expect("lock"), [Mode::Streaming]);
    }

    #[test]
    fn the_mode_sets_the_list_strategy() {
        let lists = Lists::new(InitialList::Auto);
        let base = watcher::Config::default().any_semantic();
        assert_eq!(
            lists.config(&base, Mode::Streaming).initial_list_strategy,
            watcher::InitialListStrategy::StreamingList
        );
        assert_eq!(
            lists.config(&base, Mode::Paged).initial_list_strategy,
            watcher::InitialListStrategy::ListWatch
        );
    }
}
