//! `status` and `health`: parsing of `k0s status -o json` and `k0s etcd member-list` in their
//! documented formats (fixtures in tests/fixtures/k0s/), and the probes over SSH against stand-in
//! nodes (real OpenSSH servers in a test network namespace) with a STAND-IN k0s and systemctl on
//! their PATH and a STAND-IN API (a small HTTPS server) for the check from the host.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::api::{deployed, plan_api_address, shared_api_address, StandInApi};
use common::cluster::{helper_in, read_lines, state, Cluster};
use common::{env, outcome, stderr, stdout};
use k0s_vagrant::cluster::report::{parse_etcd_members, parse_k0s_status};

#[test]
fn k0s_status_and_etcd_members_parse_from_documented_output() {
    let c = parse_k0s_status(
        &std::fs::read_to_string("tests/fixtures/k0s/status-controller.json").unwrap(),
    )
    .unwrap();
    assert_eq!(
        (c.version.as_str(), c.role.as_str(), c.workloads),
        ("v1.33.4+k0s.0", "controller", true)
    );
    let w = parse_k0s_status(
        &std::fs::read_to_string("tests/fixtures/k0s/status-worker.json").unwrap(),
    )
    .unwrap();
    assert_eq!(w.role, "worker");
    let m = parse_etcd_members(
        &std::fs::read_to_string("tests/fixtures/k0s/etcd-member-list.json").unwrap(),
    )
    .unwrap();
    assert_eq!(m.members.len(), 3);
    assert_eq!(m.members["control-plane-2"], "https://192.168.56.11:2380");
    assert!(parse_k0s_status("K0s not running").is_err());
}

/// A deployed stand-in cluster with no shared API address, as on Tart (softnet allows no virtual
/// IP): the plan lock's `api_address` is null and every controller serves its own stand-in API.
fn deployed_without_shared_address(controllers: u32, workers: u32) -> (Cluster, StandInApi) {
    let c = Cluster::new(controllers, workers);
    let lock = c.state_dir().join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    plan["cluster"]["api_address"] = serde_json::Value::Null;
    std::fs::write(&lock, plan.to_string()).unwrap();
    let apis: Vec<(&str, String)> = c
        .planned
        .iter()
        .filter(|(name, _)| name.starts_with("control-plane"))
        .map(|(name, ip)| (name.as_str(), ip.to_string()))
        .collect();
    let api = StandInApi::start_at(&c, &apis);
    let out = c.deploy(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    (c, api)
}

fn api_down(c: &Cluster, node: &str, down: bool) {
    let marker = state(c).join("api-down").join(node);
    if down {
        std::fs::write(marker, "").unwrap();
    } else {
        let _ = std::fs::remove_file(marker);
    }
}

#[test]
fn stub_without_a_shared_address_the_api_check_names_the_controller_that_answers() {
    let (c, _api) = deployed_without_shared_address(3, 1);
    let (cp1, cp2) = (c.planned[0].1, c.planned[1].1);
    api_down(&c, "control-plane-1", true);
    let out = helper_in(&c, &["health"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("ok   api "))
        .map(String::from);
    let prefix = format!(
        "ok   api           control-plane-2 ({cp2}): /readyz ok; control-plane-1 did not answer: "
    );
    assert!(
        line.as_deref().is_some_and(|l| l.starts_with(&prefix)),
        "{}",
        outcome(&out)
    );
    let status = helper_in(&c, &["status"]);
    assert!(
        stdout(&status).contains(&format!("api: control-plane-2 ({cp2}): /readyz ok")),
        "{}",
        outcome(&status)
    );
    // All up: the first controller answers, and nothing else is said.
    api_down(&c, "control-plane-1", false);
    let out = helper_in(&c, &["health"]);
    assert!(
        stdout(&out).contains(&format!(
            "ok   api           control-plane-1 ({cp1}): /readyz ok\n"
        )),
        "{}",
        outcome(&out)
    );
    // None answers: the check fails and names every controller.
    for node in ["control-plane-1", "control-plane-2", "control-plane-3"] {
        api_down(&c, node, true);
    }
    let out = helper_in(&c, &["health", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let api = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "api")
        .unwrap()
        .clone();
    assert_eq!(api["ok"], false);
    let reason = api["reason"].as_str().unwrap();
    for node in ["control-plane-1", "control-plane-2", "control-plane-3"] {
        assert!(
            reason.contains(&format!("{node} did not answer: ")),
            "{reason}"
        );
    }
}

#[test]
fn stub_drill_on_control_plane_1_without_a_shared_address_keeps_the_api() {
    let (c, _api) = deployed_without_shared_address(3, 1);
    let out = helper_in(
        &c,
        &[
            "drill",
            "stop",
            "control-plane-1",
            "--settle",
            "0",
            "--restore-within",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    for line in [
        "    FAIL k0s-services  control-plane-1: k0scontroller is inactive",
        "    ok   etcd-quorum   3 members, 2 of 3 controllers up (quorum 2)",
        &format!(
            "    ok   api           control-plane-2 ({}): /readyz ok; control-plane-1 did not answer: ",
            c.planned[1].1
        ),
        "==> drill: survived: the API and etcd kept serving while control-plane-1 was down; control-plane-1 is back",
    ] {
        assert!(err.contains(line), "missing {line:?} in\n{err}");
    }
}

/// `kubectl config view` of one kubeconfig, through the real kubectl.
fn kubectl_view(c: &Cluster, kubeconfig: &Path, jsonpath: &str) -> String {
    let out = c
        .nodes
        .command("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["config", "view", "-o", &format!("jsonpath={jsonpath}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", outcome(&out));
    stdout(&out)
}

#[test]
fn stub_kubeconfig_server_points_the_file_and_the_merged_context_at_another_controller() {
    let (c, _api) = deployed_without_shared_address(3, 1);
    let (cp1, cp2) = (c.planned[0].1, c.planned[1].1);
    let ours = c.state_dir().join("kubeconfig");
    let user = c.user_kubeconfig();
    let merged = r#"{.clusters[?(@.name=="k0s-k0s")].cluster.server}"#;
    assert_eq!(
        kubectl_view(&c, &ours, "{.clusters[0].cluster.server}"),
        format!("https://{cp1}:6443")
    );
    let others = kubectl_view(&c, &user, "{.contexts[*].name}");
    api_down(&c, "control-plane-1", true);

    let out = helper_in(&c, &["kubeconfig", "--server", "control-plane-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}: server https://{cp1}:6443 -> https://{cp2}:6443 (control-plane-2)\n\
             {}: context k0s-k0s now points at https://{cp2}:6443 (backup {}.k0s-vagrant.bak)\n\
             control-plane-2 answers: kubectl: https://{cp2}:6443/readyz says ok\n",
            ours.display(),
            user.display(),
            user.display()
        )
    );
    assert_eq!(
        kubectl_view(&c, &ours, "{.clusters[0].cluster.server}"),
        format!("https://{cp2}:6443")
    );
    assert_eq!(
        kubectl_view(&c, &user, merged),
        format!("https://{cp2}:6443")
    );
    assert_eq!(kubectl_view(&c, &user, "{.contexts[*].name}"), others);
    // The merged context reaches the API again although control-plane-1 is down.
    let get = c
        .nodes
        .command("kubectl")
        .arg("--kubeconfig")
        .arg(&user)
        .args(["--context", "k0s-k0s", "get", "--raw", "/readyz"])
        .output()
        .unwrap();
    assert_eq!(stdout(&get), "ok", "{}", outcome(&get));
    // Again: nothing to change, and it says so.
    let again = helper_in(&c, &["kubeconfig", "--server", "control-plane-2"]);
    assert!(
        stdout(&again).starts_with(&format!(
            "{}: server is already https://{cp2}:6443 (control-plane-2)\n{}: context k0s-k0s already points at",
            ours.display(),
            user.display()
        )),
        "{}",
        outcome(&again)
    );

    for (node, why) in [
        (
            "worker-1",
            "is a worker, and the API runs on the controllers",
        ),
        ("worker-9", "is not a node of this cluster"),
    ] {
        let out = helper_in(&c, &["kubeconfig", "--server", node]);
        assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
        assert_eq!(
            stderr(&out),
            format!("k0s-vagrant: {node} {why}; point the kubeconfig at a controller: control-plane-1, control-plane-2, control-plane-3\n")
        );
        assert!(stdout(&out).is_empty());
    }
    assert_eq!(
        kubectl_view(&c, &user, merged),
        format!("https://{cp2}:6443")
    );
}

#[test]
fn stub_deploy_api_phase_waits_for_a_late_api_and_gives_up_after_the_limit() {
    let c = Cluster::new(1, 1);
    let cp1 = shared_api_address(&c);
    let _api = StandInApi::start_at(&c, &[("control-plane-1", cp1.clone())]);
    api_down(&c, "control-plane-1", true);
    // The API comes up 3 s after the kubeconfig phase wrote the kubeconfig (the api phase is next).
    let late = {
        let marker = state(&c).join("api-down").join("control-plane-1");
        let kubeconfig = c.state_dir().join("kubeconfig");
        std::thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(60);
            while !kubeconfig.exists() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_secs(3));
            std::fs::remove_file(marker).unwrap();
        })
    };
    let out = c.deploy_with(&[], &[("K0S_VAGRANT_API_WAIT", "30")]);
    late.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "    waiting for the API at https://{cp1}:6443 (attempt 2, 0s): "
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("    kubectl: https://{cp1}:6443/readyz says ok\n")),
        "{err}"
    );

    // It never answers: the phase fails after the limit with the last reason.
    api_down(&c, "control-plane-1", true);
    let start = Instant::now();
    let out = c.deploy_with(&[], &[("K0S_VAGRANT_API_WAIT", "3")]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert!(start.elapsed() >= Duration::from_secs(3));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with(&format!(
            "k0s-vagrant: api: the API at https://{cp1}:6443 does not answer from this host (after 3.0s: "
        )) && last.contains("ServiceUnavailable"),
        "{}",
        outcome(&out)
    );
}

#[test]
fn stub_etcd_client_warnings_on_stderr_stay_out_of_the_json() {
    // The stand-in k0s prints etcd client JSON warnings on stderr around `etcd member-list` and
    // `status -o json`; they must neither break the parsing nor show as reasons.
    let (c, _api) = deployed(3, 1);
    let json = helper_in(&c, &["status", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", outcome(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        doc["etcd"]["value"]["members"].as_object().map(|m| m.len()),
        Some(3),
        "{doc}"
    );
    for (i, role) in ["controller", "controller", "controller", "worker"]
        .iter()
        .enumerate()
    {
        assert_eq!(doc["nodes"][i]["k0s"]["value"]["Role"], *role, "{doc}");
    }
    let out = helper_in(&c, &["health"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    // A failing command: its own error is the reason, not the warnings around it.
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("worker-1"), "").unwrap();
    let json = helper_in(&c, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let reason = doc["nodes"][3]["k0s"]["error"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("exit code 1: ")
            && reason.ends_with("Error: k0s is not running on worker-1 (stand-in)")
            && !reason.contains("etcd-client"),
        "{reason}"
    );
}

#[test]
fn stub_healthy_cluster_passes_every_check() {
    let (c, _api) = deployed(1, 1);
    let out = helper_in(&c, &["health"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "ok ssh",
            "ok k0s-services",
            "ok etcd-quorum",
            "ok nodes-ready",
            "ok taints",
            "ok reachability",
            "ok api",
            "healthy"
        ]
    );
    assert!(
        stdout(&out).contains(&format!(
            "ok   api           kubectl: https://{}:6443/readyz says ok",
            plan_api_address(&c)
        )),
        "{}",
        stdout(&out)
    );

    let status = helper_in(&c, &["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", outcome(&status));
    let table = stdout(&status);
    let row = table
        .lines()
        .find(|l| l.starts_with("control-plane-1"))
        .unwrap()
        .to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "control-plane-1",
            "controller",
            &c.planned[0].1.to_string(),
            "ok",
            "active",
            "controller",
            "v1.33.4+k0s.0",
            "Ready",
            "-",
            "yes"
        ]
    );
    assert!(
        table.contains("etcd: 1 members (control-plane-1)"),
        "{table}"
    );
    assert!(table.contains(&format!(
        "kubeconfig: {}",
        c.state_dir().join("kubeconfig").display()
    )));

    let json = helper_in(&c, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["nodes"][1]["k0s"]["value"]["Role"], "worker");
    assert_eq!(
        doc["etcd"]["value"]["members"]["control-plane-1"],
        "https://control-plane-1:2380"
    );
}

/// The helper's JSON with what differs from run to run made stable: the test's node network and
/// its scratch directory.
fn normalized_json(c: &Cluster, out: &Output) -> String {
    stdout(out)
        .replace(&format!("10.77.{}.", c.subnet), "10.77.SUBNET.")
        .replace(&c.project.path().display().to_string(), "[project]")
}

#[test]
fn stub_status_and_health_json_of_a_healthy_cluster_match_their_snapshots() {
    let (c, _api) = deployed(1, 1);
    let status = helper_in(&c, &["status", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", outcome(&status));
    insta::assert_snapshot!("status_json_healthy", normalized_json(&c, &status));
    let health = helper_in(&c, &["health", "--json"]);
    assert_eq!(health.status.code(), Some(0), "{}", outcome(&health));
    insta::assert_snapshot!("health_json_healthy", normalized_json(&c, &health));
}

/// The JSON contract of `status --json`: every probe is `{"ok": true, "value": ...}` or
/// `{"ok": false, "error": {"kind", "detail"}}`, with `code` for the kind `exit` only.
#[test]
fn stub_json_probes_tell_no_ssh_from_an_exit_code_from_success() {
    let (mut c, _api) = deployed(1, 2);
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("worker-1"), "").unwrap();
    let worker_2 = c.planned[2].1.to_string();
    c.nodes.stop(&worker_2);
    let out = helper_in(&c, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let probe = |node: usize, name: &str| doc["nodes"][node][name].clone();
    let error = |node: usize, name: &str| {
        let p = probe(node, name);
        assert_eq!(p["ok"], false, "{name} of node {node}: {p}");
        let e = p["error"].clone();
        let code = e.get("code").cloned();
        (e["kind"].clone(), code, e["detail"].clone())
    };

    // control-plane-1: every probe answered.
    assert_eq!(
        probe(0, "ssh"),
        serde_json::json!({"ok": true, "value": null})
    );
    assert_eq!(
        probe(0, "service"),
        serde_json::json!({"ok": true, "value": "active"})
    );
    assert_eq!(probe(0, "k0s")["value"]["Role"], "controller");
    assert_eq!(probe(0, "unreachable")["ok"], true);
    assert_eq!(doc["etcd"]["ok"], true);
    assert_eq!(doc["api"]["ok"], true);

    // worker-1: k0s stopped, so its commands exit non-zero, and the Node is not Ready.
    assert_eq!(
        error(1, "service"),
        (
            "exit".into(),
            Some(3.into()),
            "k0sworker is inactive".into()
        )
    );
    let (kind, code, detail) = error(1, "k0s");
    assert_eq!((kind, code), ("exit".into(), Some(1.into())));
    // The stand-in nodes' sudo may first complain about their hostname.
    assert!(
        detail
            .as_str()
            .is_some_and(|d| d.starts_with("exit code 1: ")
                && d.ends_with("Error: k0s is not running on worker-1 (stand-in)")),
        "{detail}"
    );
    assert_eq!(
        error(1, "ready"),
        ("not-ready".into(), None, "NodeStatusUnknown".into())
    );

    // worker-2: its sshd is gone: no SSH, and nothing that needs it ran.
    let (kind, code, detail) = error(2, "ssh");
    assert_eq!((kind, code), ("ssh".into(), None));
    assert!(
        detail
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("worker-2: cannot reach {worker_2}:22"))),
        "{detail}"
    );
    for name in ["service", "k0s", "unreachable"] {
        assert_eq!(error(2, name), ("ssh".into(), None, "no SSH".into()));
    }

    let health = helper_in(&c, &["health", "--json"]);
    assert_eq!(health.status.code(), Some(1), "{}", outcome(&health));
    let doc: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["healthy"], false);
}

#[test]
fn stub_stopped_k0s_and_lost_quorum_fail_their_checks_with_reasons() {
    let (c, _api) = deployed(3, 1);
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    for node in ["control-plane-2", "control-plane-3"] {
        std::fs::write(state(&c).join("stopped").join(node), "").unwrap();
    }
    let out = helper_in(&c, &["health", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: not healthy: k0s-services, etcd-quorum, nodes-ready failed\n"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["healthy"], false);
    let reason = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        reason("k0s-services"),
        "control-plane-2: k0scontroller is inactive; control-plane-3: k0scontroller is inactive"
    );
    assert_eq!(
        reason("etcd-quorum"),
        "1 of 3 controllers up, quorum needs 2"
    );
    assert_eq!(
        reason("nodes-ready"),
        "control-plane-2: NodeStatusUnknown; control-plane-3: NodeStatusUnknown"
    );
}

#[test]
fn stub_a_node_that_stops_answering_fails_in_bounded_time_while_the_rest_is_reported() {
    let (mut c, _api) = deployed(1, 2);
    let worker = c.planned[2].1.to_string();
    c.nodes.stop(&worker);
    let start = Instant::now();
    let out = helper_in(&c, &["health"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAIL ssh           worker-2: cannot reach {worker}:22 over SSH after"
        )),
        "{text}"
    );
    assert!(text.contains("ok   etcd-quorum"), "{text}");
    assert!(text.contains(&format!("FAIL reachability  control-plane-1 cannot reach {worker}; worker-1 cannot reach {worker}; worker-2: no SSH")), "{text}");
}

#[test]
fn stub_a_worker_that_refuses_workloads_fails_the_taint_policy() {
    let (c, _api) = deployed(1, 1);
    let node = state(&c).join("nodes").join("worker-1");
    let mut text = std::fs::read_to_string(&node).unwrap();
    text.push_str("taint dedicated:NoSchedule\n");
    std::fs::write(Path::new(&node), text).unwrap();
    let out = helper_in(&c, &["health"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAIL taints        worker-1 refuses workloads"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn stub_drill_on_one_of_three_controllers_keeps_serving_and_restores() {
    let (c, _api) = deployed(3, 1);
    let out = helper_in(
        &c,
        &[
            "drill",
            "stop",
            "control-plane-2",
            "--settle",
            "0",
            "--restore-within",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    for line in [
        "==> drill: take control-plane-2 down (sudo k0s stop)",
        "    FAIL k0s-services  control-plane-2: k0scontroller is inactive",
        "    ok   etcd-quorum   3 members, 2 of 3 controllers up (quorum 2)",
        "    FAIL nodes-ready   control-plane-2: NodeStatusUnknown",
        "    ok   api           kubectl: https://",
        "==> drill: restore control-plane-2",
        "==> drill: survived: the API and etcd kept serving while control-plane-2 was down; control-plane-2 is back",
    ] {
        assert!(err.contains(line), "missing {line:?} in\n{err}");
    }
    let calls = c.k0s_calls();
    assert!(
        calls.contains(&"stop".to_string()) && calls.contains(&"start".to_string()),
        "{calls:?}"
    );
    assert!(
        !state(&c).join("stopped").join("control-plane-2").exists(),
        "restored"
    );
}

#[test]
fn stub_drill_that_would_break_quorum_is_refused_unless_forced() {
    let (c, _api) = deployed(1, 1);
    let out = helper_in(&c, &["drill", "stop", "control-plane-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: stopping control-plane-1 leaves 0 of 1 controllers, and etcd needs 1: the API would go down; add --force to do it anyway\n"
    );
    assert!(
        !c.k0s_calls().contains(&"stop".to_string()),
        "nothing stopped"
    );
    // Forced: it happens, the verdict says what broke, and the node is restored.
    let out = helper_in(
        &c,
        &[
            "drill",
            "stop",
            "control-plane-1",
            "--force",
            "--settle",
            "0",
            "--restore-within",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(stderr(&out).ends_with("k0s-vagrant: the cluster did not stay healthy while control-plane-1 was down: etcd-quorum\n"), "{}", outcome(&out));
    assert!(
        !state(&c).join("stopped").join("control-plane-1").exists(),
        "restored"
    );
    let out = helper_in(&c, &["drill", "stop", "worker-9"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: worker-9 is not a node of this cluster (nodes: control-plane-1, worker-1)\n"
    );
}

#[test]
fn stub_cluster_views_come_from_the_next_controller_when_the_first_cannot_answer() {
    let (c, _api) = deployed(3, 1);
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("control-plane-1"), "").unwrap();
    let out = helper_in(&c, &["health"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ok   etcd-quorum   3 members, 2 of 3 controllers up (quorum 2)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL nodes-ready   control-plane-1: NodeStatusUnknown"),
        "{text}"
    );
    let asked: Vec<String> = c
        .k0s_calls()
        .into_iter()
        .filter(|l| l == "etcd member-list")
        .collect();
    assert!(
        asked.len() >= 2,
        "control-plane-1 failed, another controller answered: {asked:?}"
    );
}

/// The test's PATH with the STAND-IN vagrant (tests/stubs/vagrant) first, its state kept with the
/// other stand-ins' (`state(c)`).
fn stand_in_vagrant_on_path(c: &Cluster) -> String {
    let bin = c.stubs.join("vagrant-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("tests/stubs/vagrant", bin.join("vagrant")).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `k0s-vagrant ARGS --project-dir PROJECT` as `helper_in` runs it, with this PATH.
fn helper_with_path(c: &Cluster, path: &str, args: &[&str]) -> Output {
    let kubeconfig = c.user_kubeconfig();
    c.helper(&env(&[
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("PATH", path),
    ]))
    .args(args)
    .arg("--project-dir")
    .arg(c.project.path())
    .output()
    .unwrap()
}

#[test]
fn stub_drill_with_vm_halts_and_brings_back_the_machine_through_vagrant() {
    let (c, _api) = deployed(1, 2);
    let path = stand_in_vagrant_on_path(&c);
    let out = helper_with_path(
        &c,
        &path,
        &[
            "drill",
            "stop",
            "worker-1",
            "--vm",
            "--settle",
            "0",
            "--restore-within",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).contains("==> drill: take worker-1 down (vagrant halt)"));
    assert!(
        stderr(&out).contains("    FAIL nodes-ready   worker-1: NodeStatusUnknown"),
        "{}",
        stderr(&out)
    );
    let calls = std::fs::read_to_string(state(&c).join("vagrant-calls")).unwrap();
    let dir = c.project.path().display().to_string();
    assert_eq!(
        calls,
        // The restore's `vagrant up` must not run a deploy inside the restore window.
        format!("halt worker-1 (in {dir}) K0S_VAGRANT_SKIP_DEPLOY=1\nup worker-1 (in {dir}) K0S_VAGRANT_SKIP_DEPLOY=1\n")
    );
}

#[test]
fn stub_workloads_probe_runs_on_exactly_the_planned_nodes_and_is_removed() {
    let (c, _api) = deployed(3, 1);
    let out = helper_in(&c, &["health", "--workloads"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(
        stdout(&out)
            .contains("ok   workloads     probe pods ran on exactly control-plane-1, worker-1"),
        "{}",
        stdout(&out)
    );
    let calls = c.k0s_calls();
    assert!(
        calls.contains(&"kubectl apply -f -".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"kubectl delete daemonset k0s-vagrant-probe --wait=false".to_string()));
    assert!(
        !state(&c).join("applied-manifest").exists(),
        "the probe is removed"
    );

    // control-plane-2 loses its taint behind our back: the probe lands there too.
    std::fs::write(state(&c).join("nodes").join("control-plane-2"), "").unwrap();
    let out = helper_in(&c, &["health", "--workloads", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let workloads = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "workloads")
        .unwrap()
        .clone();
    assert_eq!(
        workloads["reason"],
        "probe pods ran on control-plane-2, which the plan keeps free of workloads"
    );
}

/// The project's Vagrantfile: the helper asks Vagrant only in a project that has one (the stand-in
/// vagrant does not read it).
fn with_vagrantfile(c: &Cluster) {
    std::fs::write(
        c.project.path().join("Vagrantfile"),
        "# stand-in project: tests/stubs/vagrant answers for it\n",
    )
    .unwrap();
}

/// What the stand-in vagrant says of a node's VM (`state/vm/NODE`); a VM that does not run runs
/// no k0s either (`state/stopped/NODE`: its Node turns NodeStatusUnknown).
fn vm_state(c: &Cluster, node: &str, id: &str) {
    for dir in ["vm", "stopped"] {
        std::fs::create_dir_all(state(c).join(dir)).unwrap();
    }
    std::fs::write(state(c).join("vm").join(node), id).unwrap();
    if id != "running" {
        std::fs::write(state(c).join("stopped").join(node), "").unwrap();
    }
}

/// A probe's error of `status --json`: (kind, detail).
fn probe_error(doc: &serde_json::Value, node: usize, probe: &str) -> (String, String) {
    let p = &doc["nodes"][node][probe];
    assert_eq!(p["ok"], false, "{probe} of node {node}: {p}");
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (text(&p["error"]["kind"]), text(&p["error"]["detail"]))
}

#[test]
fn stub_halted_and_suspended_vms_are_told_apart_from_a_node_without_ssh() {
    let (mut c, _api) = deployed(1, 3);
    with_vagrantfile(&c);
    let path = stand_in_vagrant_on_path(&c);
    // Every node answers: Vagrant is not asked.
    let out = helper_with_path(&c, &path, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(!state(&c).join("vagrant-calls").exists(), "vagrant asked");

    // worker-1 halted, worker-2 suspended (their SSH is gone with them); worker-3's VM runs but
    // its SSH is gone: that one is broken, not stopped.
    for i in 1..=3 {
        let address = c.planned[i].1.to_string();
        c.nodes.stop(&address);
    }
    vm_state(&c, "worker-1", "shutoff");
    vm_state(&c, "worker-2", "paused");
    let out = helper_with_path(&c, &path, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(
        probe_error(&doc, 1, "ssh"),
        (
            "halted".into(),
            "worker-1 is halted (shutoff); vagrant up starts it".into()
        )
    );
    assert_eq!(
        probe_error(&doc, 2, "ssh"),
        (
            "suspended".into(),
            "worker-2 is suspended (paused); vagrant up or vagrant resume brings it back".into()
        )
    );
    for name in ["service", "k0s", "unreachable"] {
        assert_eq!(
            probe_error(&doc, 1, name),
            ("halted".into(), "halted".into())
        );
        assert_eq!(
            probe_error(&doc, 2, name),
            ("suspended".into(), "suspended".into())
        );
        assert_eq!(probe_error(&doc, 3, name), ("ssh".into(), "no SSH".into()));
    }
    let (kind, detail) = probe_error(&doc, 3, "ssh");
    assert_eq!(kind, "ssh");
    assert!(detail.starts_with("worker-3: cannot reach "), "{detail}");
    // Asked once, for the three nodes without SSH, in the project.
    assert_eq!(
        std::fs::read_to_string(state(&c).join("vagrant-calls")).unwrap(),
        format!(
            "status --machine-readable worker-1 worker-2 worker-3 (in {}) K0S_VAGRANT_SKIP_DEPLOY=unset\n",
            c.project.path().display()
        )
    );

    let out = helper_with_path(&c, &path, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let text = stdout(&out);
    let cells = |node: &str| -> Vec<String> {
        let row = text
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_default();
        row.split_whitespace()
            .skip(3)
            .take(3)
            .map(String::from)
            .collect()
    };
    assert_eq!(cells("worker-1"), ["halted", "-", "-"], "{text}");
    assert_eq!(cells("worker-2"), ["suspended", "-", "-"], "{text}");
    assert_eq!(cells("worker-3"), ["FAIL", "FAIL", "FAIL"], "{text}");
    assert!(
        text.contains("  worker-1: ssh: worker-1 is halted (shutoff); vagrant up starts it\n"),
        "{text}"
    );
    assert!(!text.contains("worker-1: service:"), "{text}");
    assert!(text.contains("  worker-3: service: no SSH\n"), "{text}");

    let out = helper_with_path(&c, &path, &["health"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    let text = stdout(&out);
    for line in [
        "FAIL ssh           worker-1 is halted (shutoff); vagrant up starts it; worker-2 is suspended (paused); vagrant up or vagrant resume brings it back; worker-3: cannot reach ",
        "FAIL k0s-services  worker-1: halted; worker-2: suspended; worker-3: no SSH\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: not healthy: ssh, k0s-services, nodes-ready, reachability failed\n"
    );
}

#[test]
fn stub_without_vagrant_or_when_it_fails_a_node_without_ssh_stays_an_ssh_failure() {
    let (mut c, _api) = deployed(1, 1);
    with_vagrantfile(&c);
    let worker = c.planned[1].1.to_string();
    c.nodes.stop(&worker);
    vm_state(&c, "worker-1", "shutoff");
    // A PATH without vagrant: only `ip`, which runs the helper in the nodes' namespace.
    let bare = c.project.path().join("bare-bin");
    std::fs::create_dir_all(&bare).unwrap();
    let ip = ["/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("ip is installed");
    std::os::unix::fs::symlink(ip, bare.join("ip")).unwrap();
    let failing = {
        let path = stand_in_vagrant_on_path(&c);
        std::fs::write(state(&c).join("vagrant-fails"), "").unwrap();
        path
    };
    for (path, why) in [
        (bare.to_str().unwrap(), "no vagrant"),
        (&failing, "vagrant fails"),
    ] {
        let out = helper_with_path(&c, path, &["status", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{why}: {}", outcome(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (kind, detail) = probe_error(&doc, 1, "ssh");
        assert_eq!(kind, "ssh", "{why}");
        assert!(
            detail.starts_with("worker-1: cannot reach "),
            "{why}: {detail}"
        );
        assert_eq!(
            probe_error(&doc, 1, "service"),
            ("ssh".into(), "no SSH".into()),
            "{why}"
        );
        assert!(stderr(&out).is_empty(), "{why}: {}", outcome(&out));
    }
    assert_eq!(
        read_lines(&state(&c).join("vagrant-calls")).len(),
        1,
        "the failing stand-in was asked"
    );
}

#[test]
fn stub_health_of_a_halted_cluster_says_so() {
    let (mut c, _api) = deployed(1, 1);
    with_vagrantfile(&c);
    let path = stand_in_vagrant_on_path(&c);
    for (name, address) in c.planned.clone() {
        c.nodes.stop(&address.to_string());
        vm_state(&c, &name, "shutoff");
    }
    let out = helper_with_path(&c, &path, &["health"]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: not healthy: the cluster is halted; vagrant up starts it\n"
    );
    assert!(
        stdout(&out).contains(
            "FAIL ssh           control-plane-1 is halted (shutoff); vagrant up starts it; worker-1 is halted (shutoff); vagrant up starts it\n"
        ),
        "{}",
        stdout(&out)
    );
    let json = helper_with_path(&c, &path, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // No controller answers for the cluster, and the kind says why.
    assert_eq!(doc["etcd"]["error"]["kind"], "halted", "{doc}");
    // One of them suspended: the same, in other words.
    vm_state(&c, "worker-1", "paused");
    let out = helper_with_path(&c, &path, &["health"]);
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: not healthy: the cluster's VMs are halted or suspended; vagrant up brings them back\n"
    );
}
