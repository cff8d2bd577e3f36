//! Benchmark of `health` against stand-in nodes (tests/common/cluster.rs, tests/common/api.rs);
//! ignored in the test runs.

mod common;

use std::time::Instant;

use common::api::deployed;
use common::cluster::helper_in;
use common::outcome;

/// Benchmark, not a test of speed: `health` over 8 stand-in nodes on SSH, against a sequential
/// loop of one `ssh` process per node running the same probes. Prints the figures; asserts only
/// that both ran. Run it by hand, as root (it creates a network namespace):
/// `cargo test --test bench_health -- --ignored --nocapture` (add `--release` for the figures of
/// an optimised helper).
#[test]
#[ignore = "benchmark; run by hand"]
fn stub_bench_health_over_8_nodes_against_sequential_ssh() {
    let (c, _api) = deployed(3, 5);
    let mut parallel = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let out = helper_in(&c, &["health"]);
        parallel.push(start.elapsed().as_secs_f64());
        assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    }
    let known_hosts = c.state_dir().join("known_hosts");
    let mut sequential = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for (name, ip) in &c.planned {
            let service = if name.starts_with("control-plane") {
                "k0scontroller"
            } else {
                "k0sworker"
            };
            let probe = format!(
                "systemctl is-active {service}; sudo {}/k0s status -o json",
                c.stubs.display()
            );
            let out = c
                .nodes
                .command("ssh")
                .args([
                    "-i",
                    c.nodes.client_key.to_str().unwrap(),
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    &format!("UserKnownHostsFile={}", known_hosts.display()),
                    // The helper pins each host key under the machine's name, not its address.
                    "-o",
                    &format!("HostKeyAlias={name}"),
                ])
                .arg(format!("{}@{ip}", common::sshd::user()))
                .arg(probe)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", outcome(&out));
        }
        sequential.push(start.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    eprintln!(
        "bench: health over 8 nodes: median {:.3}s (runs {parallel:.3?}); sequential ssh loop (service + k0s status only): median {:.3}s (runs {sequential:.3?})",
        median(&mut parallel.clone()),
        median(&mut sequential.clone())
    );
}
