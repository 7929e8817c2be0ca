//! The development signing secret: `EARSHOT_JWT_HS256_SECRET` when set, else
//! one generated on first use and kept in the data folder, so that `earshot up`,
//! `earshot token` and `earshot demo` agree without any setup.

use std::path::{Path, PathBuf};

use earshot_auth::HS256_SECRET_VAR;
use earshot_config::{Env, Secret};

pub const DATA_DIR_VAR: &str = "EARSHOT_DATA_DIR";
pub const DEFAULT_DATA_DIR: &str = ".earshot";

pub fn data_dir(env: &Env) -> PathBuf {
    PathBuf::from(env.string_or(DATA_DIR_VAR, DEFAULT_DATA_DIR))
}

fn secret_file(dir: &Path) -> PathBuf {
    dir.join("dev-secret")
}

/// The secret from the environment or the data folder; `create` makes one when neither has it.
pub fn load(env: &Env, create: bool) -> anyhow::Result<Secret> {
    if let Some(secret) = env.secret(HS256_SECRET_VAR) {
        return Ok(secret);
    }
    let dir = data_dir(env);
    let file = secret_file(&dir);
    match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => return Ok(Secret::new(s.trim())),
        Ok(_) | Err(_) if !create => anyhow::bail!(
            "no signing secret: set {HS256_SECRET_VAR}, or run `earshot up` once in this folder \
             (it keeps a development secret in {})",
            file.display()
        ),
        _ => {}
    }
    std::fs::create_dir_all(&dir)?;
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&file, &secret)?;
    Ok(Secret::new(secret))
}

fn write_private(file: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_and_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Env::from_pairs([(DATA_DIR_VAR, dir.path().to_string_lossy().as_ref())]);
        assert!(load(&env, false).is_err(), "nothing to read yet");
        let made = load(&env, true).expect("created");
        assert_eq!(made.expose().len(), 64);
        assert_eq!(load(&env, false).expect("reused"), made);
        let given = env
            .clone()
            .with(HS256_SECRET_VAR, "from-the-environment-0123");
        assert_eq!(
            load(&given, false).expect("env wins").expose(),
            "from-the-environment-0123"
        );
    }
}
