//! `health --addons` against stand-in nodes (real OpenSSH servers in a test network namespace,
//! STAND-IN k0s answering the probes' kubectl calls in the Kubernetes API's shapes). The
//! LoadBalancer and ingress addresses are real HTTP servers inside the namespace, reached by the
//! helper's own HTTP request as from the host. Real provisioning, MetalLB and Traefik need a cluster
//! with internet: that is what `health --addons` is for there.

mod common;

use std::process::Child;

use common::cluster::{helper_in, read_lines, state, Cluster};
use common::{outcome, stdout};

/// An HTTP server at `address:port` in the nodes' namespace serving `body` at `/`.
struct Web(Child);

impl Web {
    fn start(c: &Cluster, address: &str, port: u16, body: &str) -> Web {
        let dir = state(c).join(format!("www-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        let child = c
            .nodes
            .command("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                address,
                "--directory",
            ])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Until it listens.
        for _ in 0..50 {
            let probe = c
                .nodes
                .command("python3")
                .args([
                    "-c",
                    &format!("import socket; socket.create_connection(('{address}', {port}), 1)"),
                ])
                .output()
                .unwrap();
            if probe.status.success() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Web(child)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
}

#[test]
fn stub_health_addons_binds_a_claim_and_reaches_the_load_balancer_and_the_ingress() {
    let c = Cluster::new(1, 1);
    let plan = c.plan_up_again(&[("ADDONS", "storage,load-balancer,ingress")]);
    assert_eq!(plan.status.code(), Some(0), "{}", outcome(&plan));
    let deployed = c.deploy(&["--until", "taints"]);
    assert_eq!(deployed.status.code(), Some(0), "{}", outcome(&deployed));
    let address = c.planned[0].1.to_string();
    std::fs::write(state(&c).join("lb-address"), &address).unwrap();
    std::fs::write(state(&c).join("ingress-address"), &address).unwrap();
    let _web = Web::start(&c, &address, 18080, "k0s-vagrant-probe\n");
    let _traefik = Web::start(&c, &address, 80, "404 page not found\n");

    let out = helper_in(&c, &["health", "--addons"]);
    let text = stdout(&out);
    assert!(
        line(&text, "storage").starts_with("ok")
            && line(&text, "storage").contains("default class local-path; a claim bound in"),
        "{}",
        outcome(&out)
    );
    assert!(
        line(&text, "load-balancer").starts_with("ok")
            && line(&text, "load-balancer").contains(&format!(
                "a LoadBalancer Service got {address}, which answers from this host"
            )),
        "{}",
        outcome(&out)
    );
    assert!(
        line(&text, "ingress").starts_with("ok")
            && line(&text, "ingress").contains(&format!("Traefik at {address}:80 answers (HTTP/")),
        "{}",
        outcome(&out)
    );
    // The probes were applied and removed again.
    let applied = std::fs::read_to_string(state(&c).join("applied-all")).unwrap();
    assert!(
        applied.contains("kind: PersistentVolumeClaim") && applied.contains("type: LoadBalancer")
    );
    assert_eq!(
        read_lines(&state(&c).join("deleted")),
        [
            "delete pod/k0s-vagrant-probe-claim pvc/k0s-vagrant-probe-claim --wait=false",
            "delete pod/k0s-vagrant-probe-web service/k0s-vagrant-probe-web --wait=false",
        ]
    );
}

#[test]
fn stub_health_addons_fails_without_a_default_class_or_when_another_server_answers() {
    let c = Cluster::new(1, 1);
    let deployed = c.deploy(&["--until", "taints"]);
    assert_eq!(deployed.status.code(), Some(0), "{}", outcome(&deployed));
    std::fs::write(state(&c).join("no-default-class"), "").unwrap();
    let address = c.planned[0].1.to_string();
    std::fs::write(state(&c).join("lb-address"), &address).unwrap();
    let _other = Web::start(&c, &address, 18080, "somebody else\n");

    let out = helper_in(&c, &["health", "--addons"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    let text = stdout(&out);
    assert_eq!(
        line(&text, "storage"),
        "FAIL storage       no default StorageClass (expected local-path)"
    );
    assert!(
        line(&text, "load-balancer")
            .contains(&format!("{address}:18080 answered, but not the probe")),
        "{}",
        outcome(&out)
    );
    assert!(
        !text.lines().any(|l| l.contains(" ingress ")),
        "ingress was not asked for"
    );
}
