//! A STAND-IN Kubernetes API for the stand-in cluster of tests/common/cluster.rs, and that
//! cluster deployed with one, shared by the health, Taskfile and benchmark tests.

use std::process::{Child, Command};
use std::time::Duration;

use super::cluster::{state, Cluster};
use super::outcome;

/// A STAND-IN Kubernetes API: HTTPS on each given address, answering every path with "ok", with
/// one certificate for all the addresses (as k0sctl puts every controller's address in the API
/// certificate) whose CA the stand-in k0sctl puts in the kubeconfig. An address given with a node
/// name answers 503 while that node's k0s is stopped (state/stopped/NODE) or its API is marked
/// down (state/api-down/NODE).
pub struct StandInApi(Vec<Child>);

impl StandInApi {
    pub fn start(c: &Cluster, address: &str) -> StandInApi {
        StandInApi::start_at(c, &[("", address.to_string())])
    }

    pub fn start_at(c: &Cluster, apis: &[(&str, String)]) -> StandInApi {
        let dir = c.stubs.join("api");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(state(c).join("api-down")).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=stand-in-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=stand-in-api",
            "-keyout",
            "api.key",
            "-out",
            "api.csr",
        ]);
        let sans: Vec<String> = apis.iter().map(|(_, a)| format!("IP:{a}")).collect();
        std::fs::write(
            dir.join("san.ext"),
            format!("subjectAltName={}\n", sans.join(",")),
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "api.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "api.crt",
        ]);
        let ca = std::fs::read(dir.join("ca.crt")).unwrap();
        let b64 = Command::new("base64")
            .arg("-w0")
            .arg(dir.join("ca.crt"))
            .output()
            .unwrap()
            .stdout;
        assert!(!ca.is_empty());
        std::fs::write(state(c).join("ca.b64"), b64).unwrap();
        let children = apis
            .iter()
            .map(|(node, address)| {
                let server = format!(
                    "import http.server, ssl, os\n\
                     node, state = '{node}', '{state}'\n\
                     class H(http.server.BaseHTTPRequestHandler):\n\
                     \x20   def do_GET(self):\n\
                     \x20       if node and any(os.path.exists(os.path.join(state, d, node)) for d in ('stopped', 'api-down')):\n\
                     \x20           self.send_response(503); self.end_headers(); self.wfile.write(b'down'); return\n\
                     \x20       self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n\
                     \x20   def log_message(self, *a): pass\n\
                     s = http.server.HTTPServer(('{address}', 6443), H)\n\
                     ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('{0}/api.crt', '{0}/api.key')\n\
                     s.socket = ctx.wrap_socket(s.socket, server_side=True)\n\
                     s.serve_forever()\n",
                    dir.display(),
                    state = state(c).display(),
                );
                c.nodes
                    .command("python3")
                    .args(["-c", &server])
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        StandInApi(children)
    }
}

impl Drop for StandInApi {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The plan's shared API address.
pub fn plan_api_address(c: &Cluster) -> String {
    let lock = c.state_dir().join("plan.json");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    plan["cluster"]["api_address"]
        .as_str()
        .expect("the plan has a shared API address")
        .to_string()
}

/// The plan's shared API address; a virtual IP (not a node's address) is put on the node
/// network, as keepalived would.
pub fn shared_api_address(c: &Cluster) -> String {
    let api_at = plan_api_address(c);
    if !c.planned.iter().any(|(_, ip)| ip.to_string() == api_at) {
        let out = c
            .nodes
            .command("ip")
            .args(["addr", "add", &format!("{api_at}/24"), "dev", "nodes0"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    api_at
}

/// A deployed stand-in cluster with a stand-in API at the plan's API address.
pub fn deployed(controllers: u32, workers: u32) -> (Cluster, StandInApi) {
    let c = Cluster::new(controllers, workers);
    let api_at = shared_api_address(&c);
    let api = StandInApi::start(&c, &api_at);
    let out = c.deploy(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    (c, api)
}
