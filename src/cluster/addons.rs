//! `health --addons`: what the add-ons promise, tried for real. A default StorageClass exists and a
//! claim on it binds; a LoadBalancer Service gets an address that answers HTTP from this host; the
//! ingress controller's address answers too. The probes run through a controller over SSH, like
//! `--workloads`, and are removed again whatever happened.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::adapters::node;
use crate::adapters::ssh::{KnownHosts, Session};
use crate::addons::{ingress, load_balancer, storage};
use crate::cluster::checks::{Check, Verdict};
use crate::cluster::report::Limits;
use crate::cluster::workloads::{controller_session, kubectl};
use crate::inventory::Inventory;
use crate::plan::Plan;

const CLAIM: &str = "k0s-vagrant-probe-claim";
const WEB: &str = "k0s-vagrant-probe-web";
/// Not a port the nodes use themselves (node-ip mode hands out node addresses).
const WEB_PORT: u16 = 18080;
/// What the probe's web server serves, so a reply from anything else does not count.
const MARKER: &str = "k0s-vagrant-probe";

/// A claim on the default class and a pod that consumes it (the class binds only then).
fn claim_manifest() -> String {
    format!(
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {CLAIM}, namespace: default, labels: {{app.kubernetes.io/managed-by: k0s-vagrant}}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 16Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {CLAIM}, namespace: default, labels: {{app.kubernetes.io/managed-by: k0s-vagrant}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: probe
    image: {image}
    command: [sleep, '3600']
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: {CLAIM}}}
",
        image = storage::HELPER_IMAGE
    )
}

/// A web server that answers with [`MARKER`], behind a LoadBalancer Service that may share its
/// address (node-ip mode).
fn web_manifest() -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {WEB}, namespace: default, labels: {{app: {WEB}, app.kubernetes.io/managed-by: k0s-vagrant}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: web
    image: {image}
    command: [sh, -c, 'mkdir -p /www && echo {MARKER} > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata:
  name: {WEB}
  namespace: default
  annotations: {{metallb.io/allow-shared-ip: {shared}}}
spec:
  type: LoadBalancer
  selector: {{app: {WEB}}}
  ports: [{{port: {WEB_PORT}, targetPort: 8080}}]
",
        image = storage::HELPER_IMAGE,
        shared = load_balancer::SHARED_IP_KEY
    )
}

#[derive(Deserialize)]
struct List<T> {
    items: Vec<T>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Named {
    metadata: Meta,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default, rename = "loadBalancer")]
    load_balancer: Option<LbStatus>,
    #[serde(default, rename = "hostIP")]
    host_ip: Option<String>,
}

#[derive(Deserialize, Default)]
struct LbStatus {
    #[serde(default)]
    ingress: Vec<LbIngress>,
}

#[derive(Deserialize)]
struct LbIngress {
    ip: Option<String>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(default)]
    status: Status,
}

/// The add-on checks the plan's add-ons call for, in the order they build on each other.
pub fn checks(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
    wait: Duration,
) -> Vec<Check> {
    let addons = &plan.addons;
    let wanted: Vec<&'static str> = [
        (addons.storage, "storage"),
        (addons.load_balancer.is_some(), "load-balancer"),
        (addons.ingress, "ingress"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let Some((session, k0s)) = controller_session(plan, inventory, kh, limits) else {
        let reason = vec!["no controller answers over SSH".to_string()];
        return wanted
            .into_iter()
            .map(|name| Check::new(name, Err(reason.clone())))
            .collect();
    };
    let probe = Probe {
        session: &session,
        k0s: &k0s,
        limits,
        wait,
    };
    wanted
        .into_iter()
        .map(|name| {
            let verdict = match name {
                "storage" => probe.storage(),
                "load-balancer" => probe.load_balancer(),
                _ => probe.ingress(addons.load_balancer.is_some()),
            };
            Check::new(name, verdict)
        })
        .collect()
}

struct Probe<'a> {
    session: &'a Session,
    k0s: &'a str,
    limits: &'a Limits,
    wait: Duration,
}

impl Probe<'_> {
    fn kubectl(&self, args: &str) -> Result<String, String> {
        kubectl(self.session, self.k0s, args, self.limits)
    }

    fn apply(&self, manifest: &str) -> Result<(), String> {
        self.session
            .run(
                &node::kubectl_with_input(self.k0s, "apply -f -", manifest),
                self.limits.command,
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Polls `get <what> -o json` until `done` gives a value, up to the wait.
    fn until<T>(&self, what: &str, done: impl Fn(&Object) -> Option<T>) -> Result<T, String> {
        let deadline = Instant::now() + self.wait;
        loop {
            let json = self.kubectl(&format!("get {what} -o json"))?;
            let object: Object =
                serde_json::from_str(&json).map_err(|e| format!("{what}: not JSON ({e})"))?;
            if let Some(value) = done(&object) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: {} after {}s",
                    object.status.phase.as_deref().unwrap_or("no address"),
                    self.wait.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// Removes a probe's objects; a failure is one more problem, with the command to finish it.
    fn remove(&self, objects: &str, problems: &mut Vec<String>) {
        if let Err(e) = self.kubectl(&format!("delete {objects} --wait=false")) {
            problems.push(format!(
                "removing the probe failed ({e}); remove it: kubectl delete {objects}"
            ));
        }
    }

    fn storage(&self) -> Verdict {
        let json = self
            .kubectl("get storageclass -o json")
            .map_err(|e| vec![e])?;
        let classes: List<Named> =
            serde_json::from_str(&json).map_err(|e| vec![format!("not JSON ({e})")])?;
        let default = classes.items.into_iter().find(|c| {
            c.metadata
                .annotations
                .get("storageclass.kubernetes.io/is-default-class")
                .is_some_and(|v| v == "true")
        });
        let Some(class) = default else {
            return Err(vec![format!(
                "no default StorageClass (expected {})",
                storage::CLASS
            )]);
        };
        let start = Instant::now();
        let bound = self.apply(&claim_manifest()).and_then(|()| {
            self.until(&format!("pvc {CLAIM}"), |o| {
                (o.status.phase.as_deref() == Some("Bound")).then_some(())
            })
        });
        let mut problems = Vec::new();
        self.remove(&format!("pod/{CLAIM} pvc/{CLAIM}"), &mut problems);
        match bound {
            Ok(()) if problems.is_empty() => Ok(format!(
                "default class {}; a claim bound in {}s",
                class.metadata.name,
                start.elapsed().as_secs()
            )),
            Ok(()) => Err(problems),
            Err(e) => Err([vec![e], problems].concat()),
        }
    }

    fn load_balancer(&self) -> Verdict {
        let answered = self.apply(&web_manifest()).and_then(|()| {
            let address = self.until(&format!("service {WEB}"), external_address)?;
            http_get(address, WEB_PORT, None, self.wait).and_then(|body| {
                body.contains(MARKER)
                    .then_some(address)
                    .ok_or_else(|| format!("{address}:{WEB_PORT} answered, but not the probe"))
            })
        });
        let mut problems = Vec::new();
        self.remove(&format!("pod/{WEB} service/{WEB}"), &mut problems);
        match answered {
            Ok(address) if problems.is_empty() => Ok(format!(
                "a LoadBalancer Service got {address}, which answers from this host"
            )),
            Ok(_) => Err(problems),
            Err(e) => Err([vec![e], problems].concat()),
        }
    }

    /// Traefik's Service address answers HTTP (any status: no Ingress routes the probe's name);
    /// without the load balancer, port 80 of the node its pod runs on.
    fn ingress(&self, load_balancer: bool) -> Verdict {
        let address = if load_balancer {
            let what = format!("service traefik -n {}", ingress::NAMESPACE);
            self.until(&what, external_address).map_err(|e| vec![e])?
        } else {
            self.traefik_node().map_err(|e| vec![e])?
        };
        let status = http_get(address, 80, Some("k0s-vagrant-probe.invalid"), self.wait)
            .map_err(|e| vec![e])?;
        Ok(format!("Traefik at {address}:80 answers ({status})"))
    }
}

impl Probe<'_> {
    /// The address of the node a Traefik pod runs on.
    fn traefik_node(&self) -> Result<IpAddr, String> {
        let json = self.kubectl(&format!(
            "get pods -n {} -l app.kubernetes.io/name=traefik -o json",
            ingress::NAMESPACE
        ))?;
        let pods: List<Object> =
            serde_json::from_str(&json).map_err(|e| format!("not JSON ({e})"))?;
        pods.items
            .iter()
            .find_map(|p| p.status.host_ip.as_deref()?.parse().ok())
            .ok_or_else(|| "no Traefik pod runs on a node".to_string())
    }
}

fn external_address(o: &Object) -> Option<IpAddr> {
    o.status
        .load_balancer
        .as_ref()?
        .ingress
        .iter()
        .find_map(|i| i.ip.as_deref()?.parse().ok())
}

/// `GET /` from this host, retried until `wait` (an address may answer a little after it is
/// assigned). Returns the body, or for `host` the status line.
fn http_get(
    address: IpAddr,
    port: u16,
    host: Option<&str>,
    wait: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    let target = SocketAddr::new(address, port);
    loop {
        match get_once(target, host) {
            Ok(reply) => return Ok(reply),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{target} does not answer from this host ({e})"))
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn get_once(target: SocketAddr, host: Option<&str>) -> std::io::Result<String> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let host_header = host.map_or_else(|| target.to_string(), String::from);
    write!(
        stream,
        "GET / HTTP/1.0\r\nHost: {host_header}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.lines().next().unwrap_or_default().to_string();
    if !status.starts_with("HTTP/") {
        return Err(std::io::Error::other("no HTTP reply"));
    }
    Ok(match host {
        Some(_) => status,
        None => reply
            .split_once("\r\n\r\n")
            .map_or(reply.clone(), |(_, b)| b.to_string()),
    })
}
