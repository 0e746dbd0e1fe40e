//! The container's process: command line, environment, user and working
//! directory, from the image's defaults overridden by the run options.

use crate::error::{Error, Result};
use crate::options::{RunOptions, UserSpec, parse_env_arg, read_env_file};
use crate::paths::secure_join;
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// PATH used when neither the image nor the user sets one (podman's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The parts of an image's configuration the runtime honours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDefaults {
    /// `Env`: `K=V` strings.
    pub env: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir` (empty when unset).
    pub working_dir: String,
    /// `User` (empty when unset).
    pub user: String,
}

impl From<&ImageConfiguration> for ImageDefaults {
    fn from(image: &ImageConfiguration) -> Self {
        let Some(c) = image.config() else {
            return Self::default();
        };
        Self {
            env: c.env().clone().unwrap_or_default(),
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            cmd: c.cmd().clone().unwrap_or_default(),
            working_dir: c.working_dir().clone().unwrap_or_default(),
            user: c.user().clone().unwrap_or_default(),
        }
    }
}

impl ImageDefaults {
    /// Parses an OCI image configuration document (`application/vnd.oci.image.config.v1+json`).
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: ImageConfiguration =
            serde_json::from_str(text).map_err(|e| Error::InvalidOption {
                what: "image configuration",
                value: text.chars().take(40).collect(),
                reason: e.to_string(),
            })?;
        Ok(Self::from(&cfg))
    }
}

/// Everything needed to start the container's first process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in the container's PATH when it has no `/`.
    pub args: Vec<String>,
    /// The environment, `K=V`.
    pub env: Vec<String>,
    /// Absolute working directory inside the container.
    pub cwd: String,
    /// User id inside the container.
    pub uid: u32,
    /// Group id inside the container.
    pub gid: u32,
    /// Supplementary groups (from the image's /etc/group).
    pub additional_gids: Vec<u32>,
}

impl ProcessSpec {
    /// Resolves the process from the image defaults and the user's options.
    /// `rootfs` is read for /etc/passwd and /etc/group; `host_env` looks up
    /// `-e NAME` values; `hostname` becomes `$HOSTNAME`.
    pub fn resolve(
        image: &ImageDefaults,
        opts: &RunOptions,
        rootfs: &Path,
        hostname: &str,
        host_env: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self> {
        // Command line: like podman, --entrypoint drops the image's Cmd.
        let (entrypoint, default_cmd) = match &opts.entrypoint {
            Some(e) => (parse_entrypoint(e)?, Vec::new()),
            None => (image.entrypoint.clone(), image.cmd.clone()),
        };
        let cmd = if opts.command.is_empty() {
            default_cmd
        } else {
            opts.command.clone()
        };
        let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::NoCommand);
        }

        // User.
        let user_text = match &opts.user {
            Some(u) => Some(u.clone()),
            None if !image.user.is_empty() => Some(image.user.parse()?),
            None => None,
        };
        let passwd = read_db(rootfs, "/etc/passwd");
        let group = read_db(rootfs, "/etc/group");
        let user = resolve_user(user_text.as_ref(), &passwd, &group)?;

        // Environment: image, then env files, then -e; later wins.
        let mut env = Vec::new();
        let overrides = image.env.iter().cloned().map(Some);
        let mut extra = Vec::new();
        for f in &opts.env_files {
            extra.extend(read_env_file(f, host_env)?);
        }
        for e in &opts.env {
            extra.extend(parse_env_arg(e, host_env)?);
        }
        for kv in overrides.chain(extra.into_iter().map(Some)).flatten() {
            set_env(&mut env, &kv, true);
        }
        set_env(&mut env, &format!("PATH={DEFAULT_PATH}"), false);
        if opts.tty {
            set_env(&mut env, "TERM=xterm", false);
        }
        set_env(&mut env, "container=xarch", false);
        set_env(&mut env, &format!("HOSTNAME={hostname}"), false);
        set_env(&mut env, &format!("HOME={}", user.home), false);

        // Working directory.
        let cwd = match &opts.workdir {
            Some(w) => w.clone(),
            None if !image.working_dir.is_empty() => image.working_dir.clone(),
            None => "/".into(),
        };
        if !cwd.starts_with('/') {
            return Err(Error::InvalidOption {
                what: "working directory",
                value: cwd,
                reason: "must be an absolute path".into(),
            });
        }

        Ok(ProcessSpec {
            args,
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
        })
    }

    /// The value of `key` in the environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then_some(v)
        })
    }
}

/// `--entrypoint` is a plain string or a JSON array (podman accepts both).
fn parse_entrypoint(e: &str) -> Result<Vec<String>> {
    if e.is_empty() {
        return Ok(Vec::new());
    }
    if e.trim_start().starts_with('[') {
        return serde_json::from_str(e).map_err(|err| Error::InvalidOption {
            what: "entrypoint",
            value: e.into(),
            reason: err.to_string(),
        });
    }
    Ok(vec![e.into()])
}

/// Sets `K=V` in `env`; an existing K is replaced when `replace`, else kept.
fn set_env(env: &mut Vec<String>, kv: &str, replace: bool) {
    let key = kv.split_once('=').map_or(kv, |(k, _)| k);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) if replace => *slot = kv.into(),
        Some(_) => {}
        None => env.push(kv.into()),
    }
}

/// Reads a colon-separated database such as /etc/passwd from the image
/// (missing or unreadable files read as empty: scratch images have none).
fn read_db(rootfs: &Path, path: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(secure_join(rootfs, Path::new(path))).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

struct User {
    uid: u32,
    gid: u32,
    home: String,
    additional_gids: Vec<u32>,
}

fn resolve_user(
    spec: Option<&UserSpec>,
    passwd: &[Vec<String>],
    group: &[Vec<String>],
) -> Result<User> {
    let spec = spec.cloned().unwrap_or(UserSpec {
        user: "0".into(),
        group: None,
    });
    let field = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
    let entry = match spec.user.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|r| field(r, 2).parse() == Ok(uid)),
        Err(_) => Some(
            passwd
                .iter()
                .find(|r| field(r, 0) == spec.user)
                .ok_or_else(|| Error::UnknownUser {
                    kind: "user",
                    name: spec.user.clone(),
                    file: "passwd",
                })?,
        ),
    };
    let uid = match spec.user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => field(entry.expect("named users have an entry"), 2)
            .parse()
            .map_err(|_| Error::UnknownUser {
                kind: "user",
                name: spec.user.clone(),
                file: "passwd",
            })?,
    };
    let user_name = entry.map(|r| field(r, 0));
    let home = entry
        .map(|r| field(r, 5))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    let gid = match &spec.group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .iter()
                .find(|r| field(r, 0) == *g)
                .and_then(|r| field(r, 2).parse().ok())
                .ok_or_else(|| Error::UnknownUser {
                    kind: "group",
                    name: g.clone(),
                    file: "group",
                })?,
        },
        None => entry.and_then(|r| field(r, 3).parse().ok()).unwrap_or(0),
    };
    let mut additional_gids = Vec::new();
    if spec.group.is_none()
        && let Some(name) = &user_name
    {
        for row in group {
            let members = field(row, 3);
            if members.split(',').any(|m| m == name)
                && let Ok(g) = field(row, 2).parse::<u32>()
                && g != gid
                && !additional_gids.contains(&g)
            {
                additional_gids.push(g);
            }
        }
    }
    Ok(User {
        uid,
        gid,
        home,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100:Alice:/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nusers:x:100:\nwheel:x:10:alice,bob\n",
        )
        .unwrap();
        dir
    }

    fn image() -> ImageDefaults {
        ImageDefaults {
            env: vec!["PATH=/bin".into(), "A=image".into()],
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into(), "args".into()],
            working_dir: "/srv".into(),
            user: String::new(),
        }
    }

    fn resolve(opts: &RunOptions) -> Result<ProcessSpec> {
        let dir = rootfs();
        ProcessSpec::resolve(&image(), opts, dir.path(), "box", |k| {
            (k == "HOSTVAR").then(|| "hv".into())
        })
    }

    #[test]
    fn image_defaults_apply() {
        let p = resolve(&RunOptions::default()).unwrap();
        assert_eq!(p.args, ["/entry", "default", "args"]);
        assert_eq!(p.cwd, "/srv");
        assert_eq!((p.uid, p.gid), (0, 0));
        assert_eq!(p.env_var("PATH"), Some("/bin"));
        assert_eq!(p.env_var("HOME"), Some("/root"));
        assert_eq!(p.env_var("HOSTNAME"), Some("box"));
        assert_eq!(p.env_var("TERM"), None);
    }

    #[test]
    fn command_replaces_cmd_entrypoint_drops_it() {
        let p = resolve(&RunOptions {
            command: vec!["x".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.args, ["/entry", "x"]);
        let p = resolve(&RunOptions {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.args, ["/bin/sh"]);
        let p = resolve(&RunOptions {
            entrypoint: Some(r#"["/bin/sh","-c"]"#.into()),
            command: vec!["echo hi".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.args, ["/bin/sh", "-c", "echo hi"]);
        let err = resolve(&RunOptions {
            entrypoint: Some(String::new()),
            ..Default::default()
        });
        assert!(matches!(err, Err(Error::NoCommand)));
    }

    #[test]
    fn env_overrides_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "A=file\nB=file\n").unwrap();
        let p = resolve(&RunOptions {
            env_files: vec![f],
            env: vec![
                "B=flag".into(),
                "HOSTVAR".into(),
                "NOPE".into(),
                "HOME=/x".into(),
            ],
            tty: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.env_var("A"), Some("file"));
        assert_eq!(p.env_var("B"), Some("flag"));
        assert_eq!(p.env_var("HOSTVAR"), Some("hv"));
        assert_eq!(p.env_var("NOPE"), None);
        assert_eq!(p.env_var("HOME"), Some("/x"));
        assert_eq!(p.env_var("TERM"), Some("xterm"));
        assert_eq!(p.env.iter().filter(|e| e.starts_with("A=")).count(), 1);
    }

    #[test]
    fn users_resolve() {
        let with = |u: &str| {
            resolve(&RunOptions {
                user: Some(u.parse().unwrap()),
                ..Default::default()
            })
        };
        let p = with("alice").unwrap();
        assert_eq!(
            (p.uid, p.gid, p.additional_gids.clone()),
            (1000, 100, vec![10])
        );
        assert_eq!(p.env_var("HOME"), Some("/home/alice"));
        let p = with("1000:wheel").unwrap();
        assert_eq!((p.uid, p.gid), (1000, 10));
        assert!(p.additional_gids.is_empty());
        let p = with("4242").unwrap();
        assert_eq!((p.uid, p.gid), (4242, 0));
        assert_eq!(p.env_var("HOME"), Some("/"));
        assert!(matches!(with("mallory"), Err(Error::UnknownUser { .. })));
        assert!(matches!(with("0:nogroup"), Err(Error::UnknownUser { .. })));
    }

    #[test]
    fn image_user_and_relative_workdir() {
        let dir = rootfs();
        let img = ImageDefaults {
            user: "alice".into(),
            ..image()
        };
        let p =
            ProcessSpec::resolve(&img, &RunOptions::default(), dir.path(), "h", |_| None).unwrap();
        assert_eq!(p.uid, 1000);
        let err = ProcessSpec::resolve(
            &img,
            &RunOptions {
                workdir: Some("rel".into()),
                ..Default::default()
            },
            dir.path(),
            "h",
            |_| None,
        );
        assert!(err.is_err());
    }

    #[test]
    fn from_oci_config() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["X=1"],"Cmd":["sh"],"WorkingDir":"/w","User":"1:2"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cfg: ImageConfiguration = serde_json::from_str(json).unwrap();
        let d = ImageDefaults::from(&cfg);
        assert_eq!(d.env, ["X=1"]);
        assert_eq!(d.cmd, ["sh"]);
        assert!(d.entrypoint.is_empty());
        assert_eq!(d.working_dir, "/w");
        assert_eq!(d.user, "1:2");
    }
}
