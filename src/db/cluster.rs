//! The private PostgreSQL cluster used when `DATABASE_URL` is unset.
//!
//! It lives under `TBA_HOME` (`pg/data`, its log and its unix socket in `pg/`), listens on no TCP port
//! (so nothing can clash), and is started from the installed server binaries. `initdb` refuses to run
//! as root, so as root the server runs as the `postgres` system user, which must be able to reach the
//! directory; when it cannot (a home under `/root`, a path too long for a unix socket), the cluster is
//! placed under `/var/tmp` instead, and the log says so. Start and stop are guarded by a file lock, so
//! starting twice, even from two processes at once, is harmless.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

/// The superuser created by `initdb`.
pub const SUPERUSER: &str = "postgres";
/// Where Debian installs the server binaries, one directory per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
/// Unix socket paths are limited to ~107 bytes; leave room for `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found: install them \
         (Debian/Ubuntu: `apt-get install postgresql`) or set DATABASE_URL to use an existing server"
    )]
    BinariesMissing,
    #[error(
        "running as root, the server must run as the `postgres` system user, which does not exist: \
             install the `postgresql` package or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error("{what} failed ({status}): {detail}")]
    Command { what: String, status: String, detail: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io { path: path.to_owned(), source }
}

/// Whether the cluster runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NotInitialised,
    Stopped,
    Running,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    home: PathBuf,
    /// Owned by the server's user: holds `data/`, `server.log` and the socket.
    dir: PathBuf,
    bindir: PathBuf,
    run_as: Option<(Uid, Gid)>,
}

impl Cluster {
    /// Find the server binaries and decide where the cluster lives; touches nothing yet.
    pub fn locate(home: &Path) -> Result<Self, ClusterError> {
        let home = std::path::absolute(home).map_err(io(home))?;
        let bindir = find_bindir().ok_or(ClusterError::BinariesMissing)?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name(SUPERUSER).ok().flatten().ok_or(ClusterError::NoPostgresUser)?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        let mut dir = home.join("pg");
        let reachable = run_as.is_none_or(|(uid, _)| traversable_by(&home, uid));
        if !reachable || dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            let digest = hex::encode(&Sha256::digest(home.as_os_str().as_encoded_bytes())[..8]);
            dir = PathBuf::from(format!("/var/tmp/tba-pg-{digest}"));
            tracing::warn!(home = %home.display(), cluster = %dir.display(),
                "TBA_HOME is not reachable by the postgres user or too long for a socket; the cluster lives elsewhere");
        }
        Ok(Cluster { home, dir, bindir, run_as })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Connection options for one database of the cluster, over its unix socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.dir).username(SUPERUSER).database(database)
    }

    /// A URL for the same, as psql and `DATABASE_URL` accept it.
    pub fn url(&self, database: &str) -> String {
        let dir = self.dir.to_string_lossy();
        let host: String = dir
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("postgres://{SUPERUSER}@localhost/{database}?host={host}")
    }

    /// Initialise the cluster if needed and start it if it is not running. Blocking.
    pub fn start(&self) -> Result<(), ClusterError> {
        let _lock = self.lock()?;
        if self.status_unlocked()? == Status::NotInitialised {
            self.init()?;
        }
        if self.status_unlocked()? == Status::Running {
            return Ok(());
        }
        tracing::info!(data = %self.data_dir().display(), "starting the private PostgreSQL cluster");
        let log = self.log_file();
        self.run("pg_ctl start", |c| {
            c.arg("start").arg("-D").arg(self.data_dir()).arg("-l").arg(&log).args(["-w", "-t", "120"])
        })
        .map_err(|e| match e {
            ClusterError::Command { what, status, detail } => {
                ClusterError::Command { what, status, detail: format!("{detail}\n{}", tail(&log)) }
            }
            other => other,
        })?;
        Ok(())
    }

    /// Stop the cluster if it runs (fast shutdown: sessions are disconnected). Blocking.
    pub fn stop(&self) -> Result<(), ClusterError> {
        let _lock = self.lock()?;
        if self.status_unlocked()? != Status::Running {
            return Ok(());
        }
        self.run("pg_ctl stop", |c| c.arg("stop").arg("-D").arg(self.data_dir()).args(["-m", "fast", "-w"]))?;
        Ok(())
    }

    pub fn status(&self) -> Result<Status, ClusterError> {
        self.status_unlocked()
    }

    fn status_unlocked(&self) -> Result<Status, ClusterError> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(Status::NotInitialised);
        }
        let output = self.command("pg_ctl").arg("status").arg("-D").arg(self.data_dir()).output();
        let output = output.map_err(io(&self.bindir))?;
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        Ok(if output.status.success() { Status::Running } else { Status::Stopped })
    }

    fn init(&self) -> Result<(), ClusterError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io(&self.dir))?;
        let data = self.data_dir();
        // A previous initdb that died halfway leaves a directory initdb refuses to reuse.
        if data.exists() {
            fs::remove_dir_all(&data).map_err(io(&data))?;
        }
        if let Some((uid, gid)) = self.run_as {
            nix::unistd::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| ClusterError::Io { path: self.dir.clone(), source: e.into() })?;
        }
        tracing::info!(data = %data.display(), "initialising the private PostgreSQL cluster");
        self.run("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale"])
        })?;
        let settings = format!(
            "\n# tba private cluster: unix socket only, so no port can clash\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             max_connections = 300\n\
             shared_buffers = 256MB\n",
            self.dir.display().to_string().replace('\'', "''")
        );
        let conf = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io(&conf))?;
        text.push_str(&settings);
        fs::write(&conf, text).map_err(io(&conf))?;
        Ok(())
    }

    fn lock(&self) -> Result<Flock<File>, ClusterError> {
        fs::create_dir_all(&self.home).map_err(io(&self.home))?;
        let path = self.home.join("cluster.lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| ClusterError::Io { path, source: e.into() })
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        // The server's user may not be able to read the caller's working directory.
        command.current_dir(&self.dir).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    fn run(
        &self,
        what: &str,
        args: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Result<Output, ClusterError> {
        let program = what.split(' ').next().unwrap_or(what);
        let mut command = self.command(program);
        args(&mut command);
        // pg_ctl start leaves the server holding stdout: never wait on a pipe it keeps open.
        let output = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(io(&self.bindir))?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(ClusterError::Command {
                what: what.to_owned(),
                status: output.status.to_string(),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }
}

/// A client program of the installed PostgreSQL (`pg_dump`, `pg_restore`), from the same directory as
/// the server binaries the private cluster uses.
pub fn client_program(name: &str) -> Result<PathBuf, ClusterError> {
    Ok(find_bindir().ok_or(ClusterError::BinariesMissing)?.join(name))
}

/// `TBA_PG_BINDIR` when set (and nothing else then), else `pg_config --bindir` when it has the server
/// binaries, else the newest version under Debian's root.
fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("TBA_PG_BINDIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return has_server(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_PG_ROOT)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether `uid` can traverse every existing ancestor of `path` (by ownership or the "others" bit).
fn traversable_by(path: &Path, uid: Uid) -> bool {
    path.ancestors().filter_map(|p| fs::metadata(p).ok()).all(|meta| {
        let mode = meta.permissions().mode();
        if meta.uid() == uid.as_raw() { mode & 0o100 != 0 } else { mode & 0o001 != 0 }
    })
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
