//! The settings as a user meets them through the real binary: every invalid value exits 2 with one
//! line naming the variable, the value and what is allowed (fixtures in tests/fixtures/settings/);
//! warnings do not stop the run; a command reads only the variables it uses.

mod common;

use std::collections::BTreeMap;

use common::{env, helper, outcome, Scratch};

/// A fixture: the environment, and where it is not `plan --format json` the command (after
/// `--project-dir`) and, for a value that is accepted, the exit code of the step after the check.
#[derive(serde::Deserialize)]
struct Fixture {
    env: BTreeMap<String, String>,
    #[serde(default = "plan_json")]
    args: Vec<String>,
    #[serde(default = "bad_input")]
    exit: i32,
}

fn plan_json() -> Vec<String> {
    ["plan", "--format", "json"].map(String::from).to_vec()
}

fn bad_input() -> i32 {
    2
}

#[test]
fn invalid_settings_exit_2_with_one_line() {
    insta::glob!("fixtures/settings/*.json", |path| {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let project = Scratch::new("settings");
        let mut vars = env(&[("VAGRANT_DEFAULT_PROVIDER", "libvirt")]);
        vars.extend(fixture.env);
        let out = helper(&vars)
            .arg("--project-dir")
            .arg(project.path())
            .args(&fixture.args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(fixture.exit), "{}", outcome(&out));
        assert!(out.stdout.is_empty());
        // Refused (or skipped) before anything was written.
        assert_eq!(std::fs::read_dir(project.path()).unwrap().count(), 0);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "one line: {}",
            outcome(&out)
        );
        insta::assert_snapshot!(outcome(&out));
    });
}

fn plan_with(pairs: &[(&str, &str)]) -> std::process::Output {
    let project = Scratch::new("warn");
    let mut vars = env(&[("VAGRANT_DEFAULT_PROVIDER", "libvirt")]);
    vars.extend(env(pairs));
    helper(&vars)
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(project.path())
        .output()
        .unwrap()
}

/// Vagrant evaluates the plan on every command, `vagrant destroy` too: only `vagrant up` (whose
/// post-up hook deploys) checks the deploy's settings.
#[test]
fn plan_ignores_the_deploy_settings_except_for_up() {
    let bad = [
        ("K0S_VAGRANT_READY_TIMEOUT", "10x"),
        ("K0S_VAGRANT_DEPLOY_UNTIL", "bogus"),
        ("K0S_VAGRANT_SKIP_DEPLOY", "yes"),
        ("K0S_KUBECONFIG_MERGE", "maybe"),
    ];
    for vagrant_args in [&[][..], &["destroy", "-f"], &["status"]] {
        let project = Scratch::new("plan-runtime");
        let mut vars = env(&[("VAGRANT_DEFAULT_PROVIDER", "libvirt")]);
        vars.extend(env(&bad));
        let out = helper(&vars)
            .args(["plan", "--format", "json", "--project-dir"])
            .arg(project.path())
            .arg("--")
            .args(vagrant_args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
        // Over-commit warnings may come, depending on the host; nothing about these variables.
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("K0S_"),
            "{}",
            outcome(&out)
        );
    }
}

#[test]
fn two_controllers_warn_about_etcd_and_still_plan() {
    let out = plan_with(&[("CONTROL_PLANE_COUNT", "2")]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("k0s-vagrant: warning: CONTROL_PLANE_COUNT=2 gives etcd no fault tolerance"),
        "{stderr}"
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 3);
}

#[test]
fn memory_beyond_the_host_warns_and_still_plans() {
    // 5 workers of 4 TB each exceed any test machine.
    let out = plan_with(&[("WORKER_COUNT", "5"), ("MEMORY_WORKER", "4000000000")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: the VMs ask for 20000002048 MB of memory in all, more than this host's"
        ),
        "{stderr}"
    );
}

#[test]
fn vcpus_beyond_the_host_warn_and_still_plan() {
    let out = plan_with(&[("CPU_WORKER", "100000")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("warning: the VMs ask for 100002 vCPUs in all"));
}

#[test]
fn defaults_give_no_warning_about_etcd_or_memory() {
    let out = plan_with(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("etcd") && !stderr.contains("memory"),
        "{stderr}"
    );
}

#[test]
fn same_value_in_both_spellings_is_accepted() {
    let out = plan_with(&[("WORKER_COUNT", "3"), ("worker_count", "3")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 4);
}

#[test]
fn help_is_stable() {
    let out = helper(&BTreeMap::new())
        .args(["plan", "--help"])
        .output()
        .unwrap();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn help_lists_every_variable_of_the_table() {
    let out = helper(&BTreeMap::new()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for var in k0s_vagrant::settings::ALL_VARS {
        let names = match var.alias {
            Some(alias) => format!("  {}, {alias}\n", var.name),
            None => format!("  {}\n", var.name),
        };
        let facts = format!("[default: {}] [allowed: {}]", var.default, var.allowed);
        assert!(help.contains(&names), "{} missing:\n{help}", var.name);
        assert!(help.contains(var.description), "{}", var.name);
        assert!(help.contains(&facts), "{}: {facts}", var.name);
    }
}

/// README's Settings section lists every variable of the helper's table, with the table's default,
/// allowed values and description (README may say more after it), and no variable the helper does
/// not read. Markdown code marks are not part of the text.
#[test]
fn readme_settings_tables_match_the_variable_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split_once("\n## Settings\n")
        .expect("README has a Settings section")
        .1;
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let inner = line.strip_prefix("| ").unwrap().strip_suffix(" |").unwrap();
            inner.split(" | ").map(|c| c.replace('`', "")).collect()
        })
        .collect();
    let vars = k0s_vagrant::settings::ALL_VARS;
    for row in &rows {
        assert_eq!(row.len(), 4, "{row:?}");
        assert!(
            vars.iter().any(|v| v.name == row[0]),
            "README lists {}, which the helper does not read (or settings::ALL_VARS misses it)",
            row[0]
        );
    }
    for var in vars {
        let found: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == var.name).collect();
        assert_eq!(found.len(), 1, "{} in README's Settings tables", var.name);
        let row = found[0];
        assert_eq!(row[1], var.default, "{} default", var.name);
        assert_eq!(row[2], var.allowed, "{} allowed", var.name);
        assert!(
            row[3].starts_with(var.description),
            "{} description: README '{}', table '{}'",
            var.name,
            row[3],
            var.description
        );
        if let Some(alias) = var.alias {
            assert!(section.contains(&format!("`{alias}`")), "{alias}");
        }
    }
}
