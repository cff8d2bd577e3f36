//! The SSH layer against a real OpenSSH server that the test starts on 127.0.0.1 with its own host
//! key and a generated user key: exec, timeout, retry until the server appears, auth refused,
//! host key changed, a server that accepts but never answers.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::sshd::{free_port, keypair, user, Sshd};
use common::Scratch;
use k0s_vagrant::adapters::ssh::{connect, KnownHosts, Retry, SshError};
use k0s_vagrant::inventory::SshEndpoint;
use k0s_vagrant::util::parallel;

fn endpoint(port: u16, key: &Path) -> SshEndpoint {
    SshEndpoint {
        host: "127.0.0.1".into(),
        port,
        user: user(),
        key_path: key.to_path_buf(),
    }
}

fn quick(deadline_ms: u64) -> Retry {
    Retry {
        deadline: Duration::from_millis(deadline_ms),
        connect_timeout: Duration::from_secs(2),
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
    }
}

struct Setup {
    dir: Scratch,
    sshd: Sshd,
    key: std::path::PathBuf,
    known_hosts: KnownHosts,
}

fn setup() -> Setup {
    let dir = Scratch::new("ssh");
    let key = keypair(&dir.path().join("client"));
    let sshd = Sshd::start(
        dir.path(),
        "127.0.0.1",
        free_port(),
        &dir.path().join("host_key"),
        &key,
        &[],
    );
    let known_hosts = KnownHosts::new(dir.path().join("known_hosts"));
    Setup {
        dir,
        sshd,
        key,
        known_hosts,
    }
}

#[test]
fn exec_returns_output_and_exit_status_and_run_reports_failures() {
    let s = setup();
    let session = connect(
        "node-a",
        &endpoint(s.sshd.port, &s.key),
        &s.known_hosts,
        &quick(5000),
    )
    .unwrap();
    let out = session
        .exec("echo out; echo err >&2; exit 3", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    assert_eq!(
        session
            .run("printf hello", Duration::from_secs(10))
            .unwrap(),
        "hello"
    );
    let err = session
        .run(
            "echo one >&2; echo two >&2; exit 7",
            Duration::from_secs(10),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node-a: `echo one >&2; echo two >&2; exit 7` failed with exit code 7: one | two"
    );
}

#[test]
fn host_key_is_pinned_per_machine_and_a_changed_key_is_refused() {
    let s = setup();
    let ep = endpoint(s.sshd.port, &s.key);
    connect("node-a", &ep, &s.known_hosts, &quick(5000)).unwrap();
    let pinned = std::fs::read_to_string(s.known_hosts.path()).unwrap();
    assert!(pinned.starts_with("node-a ssh-ed25519 "), "{pinned}");
    connect("node-a", &ep, &s.known_hosts, &quick(5000)).expect("the same key again is fine");
    // The same machine answers with a new host key without having been destroyed: refused.
    let port = s.sshd.port;
    drop(s.sshd);
    let _new = Sshd::start(
        s.dir.path(),
        "127.0.0.1",
        port,
        &s.dir.path().join("other_host_key"),
        &s.key,
        &[],
    );
    let err = connect("node-a", &ep, &s.known_hosts, &quick(5000))
        .err()
        .expect("changed key refused");
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "ssh-keygen -R 'node-a' -f {}",
            s.known_hosts.path().display()
        )),
        "{err}"
    );
    // Another machine that DHCP gave node-a's old address is a machine of its own: accepted.
    connect("node-b", &ep, &s.known_hosts, &quick(5000)).expect("recycled address");
    // Destroying node-a forgets its key, so the recreated node-a is pinned anew.
    s.known_hosts.forget(&["node-a".to_string()]).unwrap();
    connect("node-a", &ep, &s.known_hosts, &quick(5000)).unwrap();
    let names: Vec<String> = std::fs::read_to_string(s.known_hosts.path())
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["node-b", "node-a"]);
}

#[test]
fn a_pinned_key_follows_its_machine_to_a_new_address() {
    let s = setup();
    connect(
        "node-a",
        &endpoint(s.sshd.port, &s.key),
        &s.known_hosts,
        &quick(5000),
    )
    .unwrap();
    // The same sshd (same host key) reached on another address, as after a Tart DHCP change.
    let moved = SshEndpoint {
        host: "127.0.0.2".to_string(),
        ..endpoint(s.sshd.port, &s.key)
    };
    let second = Sshd::start(
        s.dir.path(),
        "127.0.0.2",
        s.sshd.port,
        &s.dir.path().join("host_key"),
        &s.key,
        &[],
    );
    connect("node-a", &moved, &s.known_hosts, &quick(5000)).expect("same key, new address");
    drop(second);
    let lines = std::fs::read_to_string(s.known_hosts.path())
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 1, "one pinned key per machine");
}

#[test]
fn a_key_the_server_does_not_know_is_refused_at_once() {
    let s = setup();
    let stranger = keypair(&s.dir.path().join("stranger"));
    let start = Instant::now();
    let err = connect(
        "node-a",
        &endpoint(s.sshd.port, &stranger),
        &s.known_hosts,
        &quick(10_000),
    )
    .err()
    .unwrap();
    assert!(matches!(err, SshError::AuthRefused { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "auth refusal is not retried"
    );
    assert!(err
        .to_string()
        .contains(&format!("refused the key {}", stranger.display())));
}

#[test]
fn connect_retries_until_the_server_appears() {
    let dir = Scratch::new("ssh-late");
    let key = keypair(&dir.path().join("client"));
    let port = free_port();
    let known_hosts = KnownHosts::new(dir.path().join("known_hosts"));
    let start = Instant::now();
    let late = std::thread::spawn({
        let dir = dir.path().to_path_buf();
        let key = key.clone();
        move || {
            std::thread::sleep(Duration::from_millis(1500));
            Sshd::start(&dir, "127.0.0.1", port, &dir.join("host_key"), &key, &[])
        }
    });
    let session = connect(
        "node-a",
        &endpoint(port, &key),
        &known_hosts,
        &quick(20_000),
    );
    let _sshd = late.join().unwrap();
    assert!(session.is_ok(), "{:?}", session.err());
    assert!(start.elapsed() >= Duration::from_millis(1500));
}

#[test]
fn an_absent_server_is_unreachable_after_the_deadline() {
    let dir = Scratch::new("ssh-none");
    let key = keypair(&dir.path().join("client"));
    let start = Instant::now();
    let err = connect(
        "node-a",
        &endpoint(free_port(), &key),
        &KnownHosts::new(dir.path().join("kh")),
        &quick(1500),
    )
    .err()
    .unwrap();
    assert!(matches!(err, SshError::Unreachable { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("Connection refused"), "{err}");
}

#[test]
fn a_server_that_accepts_but_never_answers_is_unreachable_in_bounded_time() {
    let dir = Scratch::new("ssh-silent");
    let key = keypair(&dir.path().join("client"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection without a byte of SSH.
    let _holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(20) {
            held.push(stream);
        }
    });
    let start = Instant::now();
    let err = connect(
        "node-a",
        &endpoint(port, &key),
        &KnownHosts::new(dir.path().join("kh")),
        &quick(3000),
    )
    .err()
    .unwrap();
    assert!(matches!(err, SshError::Unreachable { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_command_that_outlives_its_timeout_is_stopped() {
    let s = setup();
    let session = connect(
        "node-a",
        &endpoint(s.sshd.port, &s.key),
        &s.known_hosts,
        &quick(5000),
    )
    .unwrap();
    let start = Instant::now();
    let err = session
        .exec("sleep 10", Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        "node-a: `sleep 10` did not finish within 1s"
    );
}

#[test]
fn nodes_connect_in_parallel() {
    let s = setup();
    let names = ["a", "b", "c", "d"];
    let sessions = parallel(&names, |n| {
        connect(
            n,
            &endpoint(s.sshd.port, &s.key),
            &s.known_hosts,
            &quick(5000),
        )
    });
    for session in sessions {
        assert_eq!(
            session
                .unwrap()
                .run("echo ok", Duration::from_secs(5))
                .unwrap(),
            "ok\n"
        );
    }
    // Four machines (here all behind one endpoint) pin one key each, without losing any line.
    let lines = std::fs::read_to_string(s.known_hosts.path())
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 4);
}
