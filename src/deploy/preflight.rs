//! preflight: every node's hostname is its name, its address sits on one of its interfaces
//! (remembered for the HA address), and every node reaches every other node's address.

use super::{Ctx, Phase, PhaseName};
use crate::adapters::node;
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::Provider;
use crate::util::parallel;

pub struct Preflight;

/// What one node reported.
struct Report {
    hostname: String,
    /// `ip -o -4 addr show` lines: interface and address.
    addresses: Vec<(String, String)>,
    /// For every other node's address: reachable on port 22?
    reach: Vec<(String, bool)>,
}

/// What each node is asked, in one script: the matrix costs one round trip a node.
fn probe(others: &[String]) -> [String; 3] {
    [
        node::section("hostname"),
        node::section("ip -o -4 addr show"),
        node::section(&node::reach(others)),
    ]
}

fn parse(others: &[String], parts: &[node::Section]) -> Report {
    let stdout = |i: usize| parts.get(i).map_or("", |s| s.stdout.as_str());
    let hostname = stdout(0).trim().to_string();
    let addresses = stdout(1)
        .lines()
        .filter_map(|line| {
            // "2: eth1    inet 192.168.56.10/24 brd ..."
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inet = fields.iter().position(|f| *f == "inet")?;
            Some((
                fields.get(1)?.trim_end_matches(':').to_string(),
                fields.get(inet + 1)?.split('/').next()?.to_string(),
            ))
        })
        .collect();
    Report {
        hostname,
        addresses,
        reach: node::reached(others, stdout(2)),
    }
}

impl Phase for Preflight {
    fn name(&self) -> PhaseName {
        PhaseName::Preflight
    }

    fn title(&self) -> &'static str {
        "Preflight: hostnames, addresses, node-to-node reachability"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let nodes = cx.inventory.nodes.clone();
        let timeout = cx.timeouts().command;
        let pairs: Vec<(usize, &crate::adapters::ssh::Session)> =
            cx.sessions.iter().enumerate().collect();
        let reports = parallel(&pairs, |(i, session)| {
            let others = node::reach_targets(&nodes, *i);
            node::run_script(session, &probe(&others), timeout).map(|parts| parse(&others, &parts))
        });
        let mut problems = Vec::new();
        let mut tart_isolation = false;
        for (i, report) in reports.into_iter().enumerate() {
            let node = &nodes[i];
            let report = report?;
            if report.hostname != node.name {
                problems.push(format!(
                    "{}: hostname is '{}', expected '{}'; run `vagrant provision {}`",
                    node.name, report.hostname, node.name, node.name
                ));
            }
            let address = node.address.to_string();
            match report.addresses.iter().find(|(_, a)| *a == address) {
                Some((interface, _)) => cx.inventory.nodes[i].interface = Some(interface.clone()),
                None => problems.push(format!(
                    "{}: {} is on none of its interfaces (found {}); run `vagrant reload {}`",
                    node.name,
                    address,
                    report
                        .addresses
                        .iter()
                        .map(|(i, a)| format!("{i} {a}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    node.name
                )),
            }
            for (target, ok) in report.reach {
                if !ok {
                    let other = nodes
                        .iter()
                        .find(|n| n.address.to_string() == target)
                        .map_or("?", |n| n.name.as_str());
                    problems.push(format!(
                        "{} cannot reach {} ({}:22)",
                        node.name, other, target
                    ));
                    tart_isolation |= cx.inventory.provider == Provider::Tart;
                }
            }
        }
        if tart_isolation {
            problems.push("on Tart the default NAT isolates VMs from each other; the plan starts them with --net-softnet-allow=0.0.0.0/0, which needs softnet >= 0.11 installed with its SUID bit (see README)".to_string());
        }
        if !problems.is_empty() {
            return Err(ClusterError::Preflight { problems }.into());
        }
        for node in &cx.inventory.nodes {
            eprintln!(
                "    {}: {} on {}, reaches all {} others",
                node.name,
                node.address,
                node.interface.as_deref().unwrap_or("?"),
                nodes.len() - 1
            );
        }
        // The interfaces found are kept for the render (the virtual IP sits on that interface).
        if Inventory::read(&cx.state_dir).ok().as_ref() != Some(&cx.inventory) {
            cx.act(
                format!(
                    "record the node interfaces in {}",
                    Inventory::path(&cx.state_dir).display()
                ),
                |cx| Ok(cx.inventory.write(&cx.state_dir)?),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parses_hostname_interfaces_and_reachability() {
        let out = "worker-1\n\n--- 0\n---\n1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 192.168.121.7/24 brd 192.168.121.255 scope global dynamic eth0\n3: eth1    inet 192.168.56.20/24 brd 192.168.56.255 scope global eth1\n\n--- 0\n---\n192.168.56.21 fail\n192.168.56.10 ok\n\n--- 0\n---\n";
        let others = ["192.168.56.10".to_string(), "192.168.56.21".to_string()];
        let r = parse(&others, &node::sections(out));
        assert_eq!(r.hostname, "worker-1");
        assert_eq!(
            r.addresses[2],
            ("eth1".to_string(), "192.168.56.20".to_string())
        );
        assert_eq!(
            r.reach,
            [
                ("192.168.56.10".to_string(), true),
                ("192.168.56.21".to_string(), false)
            ]
        );
    }
}
