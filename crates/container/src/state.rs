//! Recorded containers: what `xarch container ls` and `xarch container rm`
//! see.
//!
//! Each container has a directory `ROOT/ID/` (ROOT is normally
//! `<image store>/containers`) holding `state.json` (a [`Record`]), the
//! generated `/etc` files and the copy-on-write view (`upper`, `work`,
//! `merged`). A name is reserved by the symbolic link `ROOT/names/NAME ->
//! ../ID`, which `symlink(2)` creates atomically, so two `run --name X`
//! cannot both win. Unnamed containers (and `--rm` ones) are deleted when
//! they exit; named ones are kept until `rm`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What is known about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Container id (64 hex digits).
    pub id: String,
    /// `--name`, if given.
    pub name: Option<String>,
    /// The image as the user named it.
    pub image: String,
    /// The image's configuration digest (its ID).
    pub image_id: String,
    /// The image's platform, `os/arch[/variant]`.
    pub platform: String,
    /// The first process's argv.
    pub command: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Pid of the xarch process supervising the container while it runs.
    pub supervisor: Option<u32>,
    /// Exit status once it has exited.
    pub exit_code: Option<i32>,
}

/// A container's state as `ls` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its supervisor is alive.
    Running,
    /// It exited with this status.
    Exited(i32),
    /// Its supervisor died without recording an exit status.
    Unknown,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Running => f.write_str("Up"),
            Status::Exited(c) => write!(f, "Exited ({c})"),
            Status::Unknown => f.write_str("Exited (unknown)"),
        }
    }
}

impl Record {
    /// Running, exited, or abandoned.
    pub fn status(&self) -> Status {
        if let Some(c) = self.exit_code {
            return Status::Exited(c);
        }
        match self.supervisor {
            Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => Status::Running,
            _ => Status::Unknown,
        }
    }
}

/// Kills a running container: its supervisor gets SIGKILL, and the
/// container's first process dies with it (PR_SET_PDEATHSIG), its mounts
/// with its namespaces. Waits up to ten seconds for the supervisor to go.
pub fn kill(rec: &Record) -> Result<()> {
    let Some(pid) = rec.supervisor else {
        return Ok(());
    };
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(Error::sys(format!("kill {pid}"), e)),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// The directory of recorded containers.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// A valid name: like podman's, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && name.len() <= 128
}

impl StateDir {
    /// Opens (creating) the directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let names = root.join("names");
        std::fs::create_dir_all(&names).map_err(|e| Error::io("creating", &names, e))?;
        Ok(StateDir { root })
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Records a new container: reserves its name and creates its
    /// directory. Returns the directory.
    pub fn create(&self, rec: &Record) -> Result<PathBuf> {
        if let Some(n) = &rec.name {
            if !valid_name(n) {
                return Err(Error::InvalidOption {
                    what: "container name",
                    value: n.clone(),
                    reason: "names are [a-zA-Z0-9][a-zA-Z0-9_.-]*".into(),
                });
            }
            let link = self.root.join("names").join(n);
            match std::os::unix::fs::symlink(Path::new("..").join(&rec.id), &link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::NameInUse(n.clone()));
                }
                Err(e) => return Err(Error::io("creating", link, e)),
            }
        }
        let dir = self.dir(&rec.id);
        let made = std::fs::create_dir(&dir).map_err(|e| Error::io("creating", &dir, e));
        if let Err(e) = made.and_then(|()| self.save(rec)) {
            self.remove(rec)?;
            return Err(e);
        }
        Ok(dir)
    }

    /// Writes the record (atomically).
    pub fn save(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        let tmp = dir.join("state.json.tmp");
        let text = serde_json::to_vec_pretty(rec).map_err(|e| Error::Setup(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
        let path = dir.join("state.json");
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("writing", path, e))
    }

    /// All recorded containers, oldest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let entries =
            std::fs::read_dir(&self.root).map_err(|e| Error::io("reading", &self.root, e))?;
        for ent in entries.flatten() {
            let path = ent.path().join("state.json");
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(r) = serde_json::from_slice::<Record>(&text) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
    }

    /// Finds a container by name, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Record> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.name.as_deref() == Some(key)) {
            return Ok(r.clone());
        }
        let hex = key.len() >= 3 && key.bytes().all(|b| b.is_ascii_hexdigit());
        let mut hits = all.iter().filter(|r| hex && r.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(r), None) => Ok(r.clone()),
            _ => Err(Error::NoSuchContainer(key.into())),
        }
    }

    /// Deletes a container's directory and releases its name.
    pub fn remove(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        if dir.exists() {
            remove_tree(&dir)?;
        }
        if let Some(n) = &rec.name {
            let link = self.root.join("names").join(n);
            let ours = std::fs::read_link(&link)
                .is_ok_and(|t| t.file_name().is_some_and(|f| f == rec.id.as_str()));
            if ours {
                std::fs::remove_file(&link).map_err(|e| Error::io("removing", link, e))?;
            }
        }
        Ok(())
    }
}

/// Removes a tree, making directories writable when the first attempt is
/// refused (rootless: the container may have left read-only directories).
fn remove_tree(dir: &Path) -> Result<()> {
    if std::fs::remove_dir_all(dir).is_ok() {
        return Ok(());
    }
    fn writable(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return;
        };
        if m.is_dir() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                writable(&e.path());
            }
        }
    }
    writable(dir);
    std::fs::remove_dir_all(dir).map_err(|e| Error::io("removing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: Option<&str>) -> Record {
        Record {
            id: id.into(),
            name: name.map(Into::into),
            image: "img".into(),
            image_id: "sha256:00".into(),
            platform: "linux/arm64".into(),
            command: vec!["sh".into()],
            created: 1,
            supervisor: None,
            exit_code: None,
        }
    }

    #[test]
    fn names_are_unique_and_released() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        let a = rec("aaaa01", Some("web"));
        s.create(&a).unwrap();
        assert!(matches!(
            s.create(&rec("bbbb02", Some("web"))),
            Err(Error::NameInUse(_))
        ));
        // The losing container left nothing behind.
        assert!(!s.dir("bbbb02").exists());
        assert_eq!(s.find("web").unwrap().id, "aaaa01");
        assert_eq!(s.find("aaa").unwrap().id, "aaaa01");
        assert!(matches!(s.find("zzz"), Err(Error::NoSuchContainer(_))));
        s.remove(&a).unwrap();
        assert!(s.list().unwrap().is_empty());
        s.create(&rec("bbbb02", Some("web"))).unwrap();
        assert_eq!(s.find("web").unwrap().id, "bbbb02");
        assert!(matches!(
            s.create(&rec("cccc03", Some("-bad"))),
            Err(Error::InvalidOption { .. })
        ));
    }

    #[test]
    fn status_from_record() {
        let mut r = rec("a", None);
        assert_eq!(r.status(), Status::Unknown);
        r.supervisor = Some(std::process::id());
        assert_eq!(r.status(), Status::Running);
        r.exit_code = Some(3);
        assert_eq!(r.status(), Status::Exited(3));
        assert_eq!(r.status().to_string(), "Exited (3)");
    }
}
