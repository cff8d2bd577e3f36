//! Commands on a node, on top of the SSH layer: the k0s command lines (`sudo <k0s> ...`), scripts
//! of several commands in one round trip with an exit code per command, and the node-to-node
//! reachability probe. Everything here is POSIX sh: a node's login shell may be dash.

use std::time::Duration;

use crate::adapters::ssh::{Session, SshError};
use crate::inventory::InventoryNode;

/// `sudo <k0s> <args>`: the one place a k0s command line is put together.
pub fn k0s(binary: &str, args: &str) -> String {
    format!("sudo {binary} {args}")
}

/// `sudo <k0s> kubectl <args>`.
pub fn kubectl(binary: &str, args: &str) -> String {
    k0s(binary, &format!("kubectl {args}"))
}

/// `sudo <k0s> kubectl <args>` reading `input` (which ends with a newline) on stdin, from a
/// here-document: the SSH layer sends no stdin.
pub fn kubectl_with_input(binary: &str, args: &str, input: &str) -> String {
    format!(
        "{} <<'K0S_VAGRANT_EOF'\n{input}K0S_VAGRANT_EOF",
        kubectl(binary, args)
    )
}

/// One command of a [`script`], its stderr kept apart from its stdout: stdout, then
/// `--- <exit code>`, then its stderr with every line prefixed `! ` (so it can never pass for a
/// marker), then `---`. The JSON of `k0s etcd member-list` must not meet stderr: k0s builds its
/// etcd client without a logger (k0sproject/k0s `pkg/etcd/client.go`), so clientv3 may log JSON
/// warnings there. `$e` is set by [`script`].
pub fn section(command: &str) -> String {
    format!("{command} 2>\"$e\"; r=$?; printf '\\n--- %s\\n' \"$r\"; awk '{{print \"! \" $0}}' \"$e\"; echo ---")
}

/// Several [`section`]s in one round trip: one temporary file takes each command's stderr in turn.
pub fn script(sections: &[String]) -> String {
    format!(
        "e=$(mktemp 2>/dev/null) || e=/tmp/k0s-vagrant-probe.$$; {}; rm -f \"$e\"",
        sections.join("; ")
    )
}

/// Runs [`section`]s as one [`script`] on the node and reads back what each printed.
pub fn run_script(
    session: &Session,
    parts: &[String],
    timeout: Duration,
) -> Result<Vec<Section>, SshError> {
    Ok(sections(&session.exec(&script(parts), timeout)?.stdout))
}

/// What one command of a [`script`] printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub stdout: String,
    pub code: i32,
    pub stderr: String,
}

impl Section {
    /// Why the command failed, for people: the tail of its stderr, else of its stdout; etcd client
    /// log lines (JSON with a `level`) are left out when the command said anything else.
    pub fn reason(&self) -> String {
        let plain: String = self
            .stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("{\"level\":"))
            .map(|l| format!("{l}\n"))
            .collect();
        let said = if !plain.trim().is_empty() {
            &plain
        } else if !self.stderr.trim().is_empty() {
            &self.stderr
        } else {
            &self.stdout
        };
        crate::util::text::tail(said, 2)
    }
}

/// The sections of a [`script`]'s output, in order.
pub fn sections(out: &str) -> Vec<Section> {
    let mut result: Vec<Section> = Vec::new();
    let mut text = String::new();
    // After `--- <code>`, until `---`: the stderr of the section just closed.
    let mut in_stderr = false;
    for line in out.lines() {
        if in_stderr {
            if let Some(err) = line.strip_prefix("! ").or((line == "!").then_some("")) {
                if let Some(last) = result.last_mut() {
                    last.stderr.push_str(err);
                    last.stderr.push('\n');
                }
                continue;
            }
            in_stderr = false;
            if line == "---" {
                continue;
            }
        }
        match line
            .strip_prefix("--- ")
            .and_then(|rc| rc.trim().parse::<i32>().ok())
        {
            Some(code) => {
                result.push(Section {
                    stdout: std::mem::take(&mut text),
                    code,
                    stderr: String::new(),
                });
                in_stderr = true;
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    result
}

/// The addresses node `i` must reach: every other node's, in inventory order.
pub fn reach_targets(nodes: &[InventoryNode], i: usize) -> Vec<String> {
    nodes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, n)| n.address.to_string())
        .collect()
}

/// Whether this node opens TCP port 22 at each target: all targets at once, each within 3 s, so
/// the probe takes 3 s at most. TCP to port 22 proves the path without ping (sshd runs
/// everywhere); bash is named because dash has no `/dev/tcp`. Prints `<target> ok|fail` a line.
pub fn reach(targets: &[String]) -> String {
    format!(
        "{{ for a in {}; do (timeout 3 bash -c \"exec 3<>/dev/tcp/$a/22\" 2>/dev/null && echo \"$a ok\" || echo \"$a fail\") & done; wait; }}",
        targets.join(" ")
    )
}

/// What [`reach`] printed, in the order of `targets` (the lines come in the order the probes
/// finished): each target that answered, and whether it was reached.
pub fn reached(targets: &[String], out: &str) -> Vec<(String, bool)> {
    targets
        .iter()
        .filter_map(|t| {
            out.lines().find_map(|l| match l.strip_prefix(t.as_str())? {
                " ok" => Some((t.clone(), true)),
                " fail" => Some((t.clone(), false)),
                _ => None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn dash(script: &str) -> String {
        let out = Command::new("dash")
            .args(["-c", script])
            .output()
            .expect("dash runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The section protocol run by a real POSIX shell (dash, the login shell of the nodes).
    #[test]
    fn sections_keep_stderr_apart_from_json_under_dash() {
        let warn =
            r#"{"level":"warn","logger":"etcd-client","msg":"retrying of unary invoker failed"}"#;
        let probe = script(&[
            section(&format!(
                "( echo '{warn}' >&2; echo '{{\"members\":{{\"control-plane-1\":\"https://10.0.0.10:2380\"}}}}'; echo '{warn}' >&2 )"
            )),
            section(&format!(
                "( echo partial; echo '{warn}' >&2; echo 'Error: etcdserver: request timed out' >&2; exit 3 )"
            )),
            section("printf 'no newline'"),
            section("( echo '--- 0' >&2; exit 1 )"),
        ]);
        let parts = sections(&dash(&probe));
        assert_eq!(parts.len(), 4, "{parts:?}");
        let members: serde_json::Value =
            serde_json::from_str(&parts[0].stdout).expect("stderr stays out of the JSON");
        assert_eq!(parts[0].code, 0);
        assert_eq!(members["members"].as_object().map(|m| m.len()), Some(1));
        assert_eq!(
            (parts[1].code, parts[1].reason().as_str()),
            (3, "Error: etcdserver: request timed out")
        );
        assert_eq!(parts[2].stdout.trim(), "no newline");
        // A stderr line that looks like a marker is still stderr.
        assert_eq!((parts[3].code, parts[3].reason().as_str()), (1, "--- 0"));
    }

    /// The probes finish in any order; the answers are read in the order asked. (The probe under
    /// dash: `cluster::report`'s `probe_script_parses_under_dash`.)
    #[test]
    fn reach_answers_come_in_target_order() {
        let targets = ["10.0.0.11".to_string(), "10.0.0.20".to_string()];
        let said = "10.0.0.20 ok\n10.0.0.11 fail\n10.0.0.111 ok\n";
        assert_eq!(
            reached(&targets, said),
            [
                ("10.0.0.11".to_string(), false),
                ("10.0.0.20".to_string(), true)
            ]
        );
    }

    #[test]
    fn kubectl_with_input_is_a_here_document_under_dash() {
        let command = kubectl_with_input("k0s", "apply -f -", "kind: DaemonSet\n").replacen(
            "sudo k0s kubectl apply -f -",
            "cat",
            1,
        );
        assert_eq!(dash(&command), "kind: DaemonSet\n");
    }
}
