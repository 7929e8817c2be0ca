//! A private PostgreSQL cluster started from the machine's own binaries: for
//! `earshot up` without `DATABASE_URL` (a data folder reused across runs) and
//! for tests without a server (a temporary folder removed afterwards).
//!
//! PostgreSQL refuses to run as root, so when we are root the cluster runs as
//! the `postgres` system user that the distribution's packages create.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BINDIR_VAR: &str = "EARSHOT_PG_BINDIR";

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "no PostgreSQL server binaries found (looked at ${BINDIR_VAR}, `pg_config --bindir`, \
         /usr/lib/postgresql/*/bin and PATH). Install them (Debian/Ubuntu: \
         `apt-get install postgresql`), point {BINDIR_VAR} at the folder holding initdb, \
         set DATABASE_URL to a server you have, or run the suite with `docker compose up`"
    )]
    NoBinaries,
    #[error("running as root needs the `postgres` system user to own the cluster: {0}")]
    NoPostgresUser(String),
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
pub fn find_bindir() -> Result<PathBuf, PgError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BINDIR_VAR).map(PathBuf::from) {
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(PgError::NoBinaries)
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let dir = entry.path().join("bin");
            has_server(&dir).then_some((version, dir))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| has_server(dir))
        .ok_or(PgError::NoBinaries)
}

/// The uid and gid the cluster runs as: ours, or `postgres` when we are root.
fn cluster_owner() -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>, PgError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")
        .map_err(|e| PgError::NoPostgresUser(e.to_string()))?
        .ok_or_else(|| PgError::NoPostgresUser("no such user".into()))?;
    Ok(Some((user.uid, user.gid)))
}

/// Whether the user `uid`/`gid` can walk down to `dir` (every folder above it
/// searchable by them). Root's cluster runs as `postgres`, which cannot reach
/// a clone under `/root` or a private temporary folder.
fn reachable_by(dir: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().skip(1).all(|folder| {
        std::fs::metadata(folder).is_ok_and(|m| {
            let mode = m.mode();
            (m.uid() == uid.as_raw() && mode & 0o100 != 0)
                || (m.gid() == gid.as_raw() && mode & 0o010 != 0)
                || mode & 0o001 != 0
        })
    })
}

/// Where the cluster meant for `dir` lives when `postgres` cannot reach
/// `dir`: one folder per such `dir` under `/var/tmp`, which outlives reboots
/// as the cluster should.
fn reachable_stand_in(dir: &Path) -> PathBuf {
    let name: String = dir
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Path::new("/var/tmp/earshot-pg").join(name)
}

/// A free loopback port, as the kernel hands them out.
pub fn free_port() -> Result<u16, PgError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io("binding a probe port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading the probe port"))?
        .port())
}

/// A running cluster listening on 127.0.0.1 with trust authentication for `postgres`.
#[derive(Debug)]
pub struct LocalPostgres {
    bindir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    started_here: bool,
    stop_on_drop: bool,
    _temp: Option<tempfile::TempDir>,
}

impl LocalPostgres {
    /// Starts (creating it on first use) the cluster in `data_dir` on `port`,
    /// or reuses it when it is already running. It keeps running after drop
    /// unless [`LocalPostgres::stop`] is called.
    pub fn start_in(data_dir: &Path, port: u16) -> Result<Self, PgError> {
        std::fs::create_dir_all(data_dir)
            .map_err(io(format!("creating {}", data_dir.display())))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io(format!("resolving {}", data_dir.display())))?;
        let owner = cluster_owner()?;
        let data_dir = match owner {
            Some((uid, gid)) if !reachable_by(&data_dir, uid, gid) => {
                let elsewhere = reachable_stand_in(&data_dir);
                std::fs::create_dir_all(&elsewhere)
                    .map_err(io(format!("creating {}", elsewhere.display())))?;
                elsewhere
            }
            _ => data_dir,
        };
        let mut pg = Self {
            bindir: find_bindir()?,
            data_dir,
            port,
            owner,
            started_here: false,
            stop_on_drop: false,
            _temp: None,
        };
        pg.init_and_start(false)?;
        Ok(pg)
    }

    /// A throwaway cluster in a temporary folder on a free port, stopped and
    /// removed on drop. Durability is off: it is for tests.
    pub fn temporary() -> Result<Self, PgError> {
        let temp = tempfile::Builder::new()
            .prefix("earshot-pg-")
            .tempdir()
            .map_err(io("creating a temporary folder"))?;
        let mut pg = Self {
            bindir: find_bindir()?,
            data_dir: temp.path().join("data"),
            port: free_port()?,
            owner: cluster_owner()?,
            started_here: false,
            stop_on_drop: true,
            _temp: None,
        };
        pg.chown(temp.path())?;
        pg._temp = Some(temp);
        pg.init_and_start(true)?;
        Ok(pg)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether this process started the server (rather than finding it running).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Connection URL for `database` as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn chown(&self, path: &Path) -> Result<(), PgError> {
        if let Some((uid, gid)) = self.owner {
            nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|e| PgError::Io {
                context: format!("handing {} to the postgres user", path.display()),
                source: e.into(),
            })?;
        }
        Ok(())
    }

    fn run<I, S>(&self, program: &str, args: I) -> Result<Output, PgError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.bindir.join(program));
        command
            .args(args)
            .env_remove("PGDATA")
            .current_dir(&self.data_dir);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command.output().map_err(io(format!("running {program}")))
    }

    fn run_ok<I, S>(&self, program: &str, args: I) -> Result<Output, PgError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(program, args)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(PgError::Command {
                command: program.to_owned(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    fn is_running(&self) -> Result<bool, PgError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        Ok(self
            .run("pg_ctl", ["status", "-D", &data])?
            .status
            .success())
    }

    fn init_and_start(&mut self, throwaway: bool) -> Result<(), PgError> {
        std::fs::create_dir_all(&self.data_dir)
            .map_err(io(format!("creating {}", self.data_dir.display())))?;
        self.chown(&self.data_dir)?;
        let data = self.data_dir.to_string_lossy().into_owned();
        if !self.data_dir.join("PG_VERSION").exists() {
            let mut args = vec!["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
            if throwaway {
                args.push("--no-sync");
            }
            self.run_ok("initdb", args)?;
        }
        if self.is_running()? {
            tracing::info!(data_dir = %data, "reusing the running private PostgreSQL");
            return Ok(());
        }
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port, data
        );
        if throwaway {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = self
            .data_dir
            .join("postgres.log")
            .to_string_lossy()
            .into_owned();
        self.run_ok(
            "pg_ctl",
            [
                "start", "-w", "-t", "60", "-D", &data, "-l", &log, "-o", &options,
            ],
        )?;
        self.started_here = true;
        Ok(())
    }

    /// Starts a stopped cluster again, on the same folder and port.
    pub fn start_again(&mut self) -> Result<(), PgError> {
        let throwaway = self.stop_on_drop;
        self.init_and_start(throwaway)
    }

    /// Stops the server (fast shutdown: sessions are disconnected, nothing lost).
    pub fn stop(&self) -> Result<(), PgError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        self.run_ok("pg_ctl", ["stop", "-w", "-m", "fast", "-D", &data])?;
        Ok(())
    }

    /// Stops the server as a crash would (immediate shutdown: no checkpoint,
    /// the next start replays the WAL).
    pub fn stop_immediately(&self) -> Result<(), PgError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        self.run_ok("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", &data])?;
        Ok(())
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let data = self.data_dir.to_string_lossy().into_owned();
            let _ = self.run("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", &data]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_under_a_private_one_is_out_of_another_users_reach() {
        use std::os::unix::fs::PermissionsExt;
        let outer = tempfile::tempdir().expect("a temporary folder");
        let inner = outer.path().join("fresh/.earshot/pg");
        std::fs::create_dir_all(&inner).expect("folders");
        let stranger = (
            nix::unistd::Uid::from_raw(54_321),
            nix::unistd::Gid::from_raw(54_321),
        );
        let mode = |m| std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(m));
        mode(0o700).expect("chmod");
        assert!(!reachable_by(&inner, stranger.0, stranger.1));
        mode(0o755).expect("chmod");
        assert!(reachable_by(&inner, stranger.0, stranger.1));
        assert_eq!(
            reachable_stand_in(Path::new("/root/my clone/.earshot/pg")),
            Path::new("/var/tmp/earshot-pg/_root_my_clone_.earshot_pg")
        );
    }

    #[test]
    fn a_temporary_cluster_starts_answers_and_goes_away() {
        let pg = LocalPostgres::temporary().expect("machine has PostgreSQL binaries");
        assert!(pg.is_running().expect("pg_ctl status"));
        let out = pg
            .run_ok(
                "psql",
                [
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &pg.port().to_string(),
                    "-U",
                    "postgres",
                    "-Atc",
                    "select 40 + 2",
                ],
            )
            .expect("psql answers");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
        let data = pg.data_dir().to_path_buf();
        drop(pg);
        assert!(!data.exists(), "temporary folder removed");
    }

    #[test]
    fn a_data_folder_is_reused() {
        let folder = tempfile::tempdir().expect("tempdir");
        let data = folder.path().join("pg");
        let owner = cluster_owner().expect("owner");
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(folder.path(), Some(uid), Some(gid)).expect("chown");
        }
        let port = free_port().expect("port");
        let first = LocalPostgres::start_in(&data, port).expect("start");
        assert!(first.started_here());
        let second = LocalPostgres::start_in(&data, port).expect("reuse");
        assert!(!second.started_here(), "found running, not started again");
        first.stop().expect("stop");
    }
}
