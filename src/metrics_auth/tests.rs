use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderMap, HeaderValue, StatusCode, header::AUTHORIZATION};

use super::*;

/// Tokens the fake API server knows, whose users it allows, and how often it was asked.
#[derive(Default)]
struct Fake {
    users: BTreeMap<&'static str, User>,
    allowed: Vec<&'static str>,
    failing: bool,
    authentications: AtomicUsize,
    authorizations: AtomicUsize,
    asked: Mutex<Vec<(String, String)>>,
}

impl Reviews for Fake {
    async fn authenticate(&self, token: &str) -> Result<Option<User>, ReviewError> {
        self.authentications.fetch_add(1, Ordering::SeqCst);
        if self.failing {
            return Err(ReviewError("connection refused".into()));
        }
        Ok(self.users.get(token).cloned())
    }
    async fn authorize(&self, user: &User, path: &str, verb: &str) -> Result<bool, ReviewError> {
        self.authorizations.fetch_add(1, Ordering::SeqCst);
        self.asked
            .lock()
            .unwrap()
            .push((path.to_string(), verb.to_string()));
        Ok(self.allowed.contains(&user.name.as_str()))
    }
}

fn user(name: &str, groups: &[&str]) -> User {
    User {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

fn fake() -> Fake {
    Fake {
        users: BTreeMap::from([
            ("reader-token", user("system:serviceaccount:m:reader", &[])),
            ("other-token", user("system:serviceaccount:m:other", &[])),
            ("admin-token", user("admin", &["system:masters"])),
        ]),
        allowed: vec!["system:serviceaccount:m:reader"],
        ..Default::default()
    }
}

fn headers(authorization: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
    h
}

fn block<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

#[test]
fn decisions_and_their_status_codes() {
    let a = Authorizer::new(fake());
    let now = Instant::now();
    let cases = [
        (None, Decision::Unauthenticated, StatusCode::UNAUTHORIZED),
        (
            Some("Basic dXNlcjpwYXNz"),
            Decision::Unauthenticated,
            StatusCode::UNAUTHORIZED,
        ),
        (
            Some("Bearer "),
            Decision::Unauthenticated,
            StatusCode::UNAUTHORIZED,
        ),
        (
            Some("Bearer nobody-knows-me"),
            Decision::Unauthenticated,
            StatusCode::UNAUTHORIZED,
        ),
        (Some("Bearer reader-token"), Decision::Allow, StatusCode::OK),
        (
            Some("Bearer other-token"),
            Decision::Forbidden,
            StatusCode::FORBIDDEN,
        ),
        (Some("Bearer admin-token"), Decision::Allow, StatusCode::OK),
    ];
    for (header, want, code) in cases {
        let h = header.map(headers).unwrap_or_default();
        let got = block(a.check(&h, now));
        assert_eq!(got, want, "{header:?}");
        assert_eq!(got.status(), code, "{header:?}");
    }
}

#[test]
fn the_subject_access_review_asks_for_get_on_metrics_and_masters_skip_it() {
    let a = Authorizer::new(fake());
    let now = Instant::now();
    block(a.check(&headers("Bearer other-token"), now));
    block(a.check(&headers("Bearer admin-token"), now));
    assert_eq!(a.reviews.authorizations.load(Ordering::SeqCst), 1);
    assert_eq!(
        *a.reviews.asked.lock().unwrap(),
        vec![("/metrics".to_string(), "get".to_string())]
    );
}

#[test]
fn no_token_asks_the_api_server_nothing() {
    let a = Authorizer::new(fake());
    block(a.check(&HeaderMap::new(), Instant::now()));
    block(a.check(&headers("Bearer"), Instant::now()));
    assert_eq!(a.reviews.authentications.load(Ordering::SeqCst), 0);
}

#[test]
fn bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
    assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
    assert_eq!(bearer_token(&headers("BEARER abc")), Some("abc"));
    assert_eq!(bearer_token(&headers("Bearerabc")), None);
    assert_eq!(bearer_token(&headers("Token abc")), None);
    assert_eq!(bearer_token(&HeaderMap::new()), None);
}

#[test]
fn answers_are_cached_for_the_ttl_then_asked_again() {
    let a = Authorizer::new(fake());
    let t0 = Instant::now();
    for token in ["reader-token", "other-token", "bad"] {
        let h = headers(&format!("Bearer {token}"));
        let first = block(a.check(&h, t0));
        let again = block(a.check(&h, t0 + CACHE_TTL - Duration::from_millis(1)));
        assert_eq!(first, again, "{token}");
    }
    assert_eq!(a.reviews.authentications.load(Ordering::SeqCst), 3);
    let h = headers("Bearer reader-token");
    assert_eq!(block(a.check(&h, t0 + CACHE_TTL)), Decision::Allow);
    assert_eq!(a.reviews.authentications.load(Ordering::SeqCst), 4);
}

#[test]
fn api_server_errors_answer_500_and_are_not_cached() {
    let a = Authorizer::new(Fake {
        failing: true,
        ..fake()
    });
    let h = headers("Bearer reader-token");
    let now = Instant::now();
    let d = block(a.check(&h, now));
    assert!(matches!(&d, Decision::Unavailable(m) if m.contains("connection refused")));
    assert_eq!(d.status(), StatusCode::INTERNAL_SERVER_ERROR);
    block(a.check(&h, now));
    assert_eq!(a.reviews.authentications.load(Ordering::SeqCst), 2);
}

#[test]
fn the_cache_is_bounded_dropping_expired_answers_first_then_the_oldest() {
    let t0 = Instant::now();
    let mut c = Cache::new(Duration::from_secs(10), 2);
    let (a, b, x, y) = (
        Cache::key("a"),
        Cache::key("b"),
        Cache::key("x"),
        Cache::key("y"),
    );
    c.put(a, Decision::Allow, t0);
    c.put(b, Decision::Forbidden, t0 + Duration::from_secs(1));
    c.put(x, Decision::Unauthenticated, t0 + Duration::from_secs(2));
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.get(&a, t0 + Duration::from_secs(2)),
        None,
        "the oldest went"
    );
    assert_eq!(
        c.get(&b, t0 + Duration::from_secs(2)),
        Some(Decision::Forbidden)
    );
    // Once b and x are expired, a new answer replaces them rather than a live one.
    c.put(y, Decision::Allow, t0 + Duration::from_secs(12));
    assert_eq!(c.len(), 1);
    assert_eq!(
        c.get(&y, t0 + Duration::from_secs(12)),
        Some(Decision::Allow)
    );
    // Updating a key that is there never evicts another.
    let mut c = Cache::new(Duration::from_secs(10), 2);
    c.put(a, Decision::Allow, t0);
    c.put(b, Decision::Allow, t0);
    c.put(a, Decision::Forbidden, t0);
    assert_eq!(c.len(), 2);
    assert_eq!(c.get(&b, t0), Some(Decision::Allow));
    // Errors are never kept.
    let mut c = Cache::new(Duration::from_secs(10), 2);
    c.put(a, Decision::Unavailable("x".into()), t0);
    assert!(c.is_empty());
}

#[test]
fn probes_are_always_allowed_and_nothing_else() {
    for p in ["/healthz", "/readyz", "/livez"] {
        assert!(always_allowed(p), "{p}");
    }
    for p in [
        "/metrics",
        "/healthz/",
        "/healthz/x",
        "/",
        "/readyz?verbose",
    ] {
        assert!(!always_allowed(p), "{p}");
    }
}
