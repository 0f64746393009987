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
//! stream, and the process falls back to paged lists for all of them, once and
//! for good, when a watch is refused (400 or 422) or when a probe (a streaming
//! watch of namespaces selecting none) gets no end bookmark within
//! [`PROBE_LIMIT`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::cli::InitialList;

/// How long the probe waits for the end bookmark of an empty streaming list;
/// a server that streams sends it within about a second.
pub const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// Probes that fail for another reason (the server unreachable) are retried
/// this many times, this far apart, before streaming is kept unconfirmed.
const PROBE_ATTEMPTS: u32 = 3;
const PROBE_RETRY: Duration = Duration::from_secs(2);
/// Every namespace carries this label (since 1.21): its absence selects none,
/// so the probe's list is empty and ends at once.
const SELECT_NONE: &str = "!kubernetes.io/metadata.name";
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

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

    /// In `auto`, checks once that the server ends a streaming list, and
    /// falls back to paged lists if not. The watches stream meanwhile, so a
    /// server that streams loses no time to the probe.
    pub async fn probe(self, client: Client) {
        if !self.fallback {
            return;
        }
        let api: Api<Namespace> = Api::all(client);
        for attempt in 1..=PROBE_ATTEMPTS {
            match probe_once(&api).await {
                Probe::Streams => {
                    if self.mode() == Mode::Streaming {
                        tracing::info!(
                            "initial lists: streaming (the API server ended a streaming list)"
                        );
                    }
                    return;
                }
                Probe::Refused(why) => {
                    self.refused(&why);
                    return;
                }
                Probe::NoEnd => {
                    self.refused(&format!(
                        "a streaming list got no {INITIAL_EVENTS_END} bookmark within {}s",
                        PROBE_LIMIT.as_secs()
                    ));
                    return;
                }
                Probe::Failed(why) => {
                    tracing::debug!(attempt, error = %why, "initial-list probe failed");
                    if attempt == PROBE_ATTEMPTS {
                        tracing::warn!(error = %why, "initial lists: streaming, unconfirmed (the probe failed; a refused watch still falls back)");
                    } else {
                        tokio::time::sleep(PROBE_RETRY).await;
                    }
                }
            }
        }
    }

    fn config(&self, base: &watcher::Config, mode: Mode) -> watcher::Config {
        match mode {
            Mode::Streaming => base.clone().streaming_lists(),
            Mode::Paged => base.clone(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Streams,
    Refused(String),
    NoEnd,
    Failed(String),
}

async fn probe_once(api: &Api<Namespace>) -> Probe {
    let mut params = WatchParams::streaming_lists().labels(SELECT_NONE);
    params.timeout = Some(PROBE_LIMIT.as_secs() as u32);
    let stream = match api.watch(&params, "0").await {
        Ok(s) => s,
        Err(kube::Error::Api(status)) if refuses(status.code) => {
            return Probe::Refused(status.message);
        }
        Err(e) => return Probe::Failed(e.to_string()),
    };
    let mut stream = std::pin::pin!(stream);
    let deadline = tokio::time::Instant::now() + PROBE_LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_elapsed) => return Probe::NoEnd,
            // The server closed the watch without ending the list.
            Ok(None) => return Probe::NoEnd,
            Ok(Some(Ok(WatchEvent::Bookmark(b)))) => {
                if b.metadata.annotations.contains_key(INITIAL_EVENTS_END) {
                    return Probe::Streams;
                }
            }
            Ok(Some(Ok(WatchEvent::Error(status)))) if refuses(status.code) => {
                return Probe::Refused(status.message);
            }
            Ok(Some(Ok(WatchEvent::Error(status)))) => return Probe::Failed(status.message),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Probe::Failed(e.to_string()),
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

struct State<K> {
    api: Api<K>,
    base: watcher::Config,
    lists: Lists,
    changes: watch::Receiver<Mode>,
    mode: Mode,
    steps: Steps<K>,
    /// Between the start of a list (or before the first) and its end: only
    /// then does a switch of mode restart the watch, since a list that ended
    /// streaming proved the server streams.
    listing: bool,
}

impl<K> State<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    fn restart(&mut self, mode: Mode) {
        self.mode = mode;
        self.steps =
            kube::runtime::watcher(self.api.clone(), self.lists.config(&self.base, mode)).boxed();
    }
}

/// kube's watcher for `api` and `base` in the mode of `lists`, restarted
/// with paged lists when that mode falls back while it is still listing. No
/// backoff: the caller adds it.
pub fn watch<K>(
    api: Api<K>,
    base: watcher::Config,
    lists: &Lists,
) -> impl Stream<Item = watcher::Result<Event<K>>> + Send + use<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let mut changes = lists.mode.subscribe();
    let mode = *changes.borrow_and_update();
    let steps = kube::runtime::watcher(api.clone(), lists.config(&base, mode)).boxed();
    let state = State {
        api,
        base,
        lists: lists.clone(),
        changes,
        mode,
        steps,
        listing: true,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.mode == Mode::Streaming && s.lists.mode() == Mode::Paged && s.listing {
                s.restart(Mode::Paged);
            }
            let step = if s.mode == Mode::Streaming {
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
                }
            } else {
                s.steps.next().await
            };
            let step = step?;
            if let Some(on) = super::relist_change(&step) {
                s.listing = on;
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
