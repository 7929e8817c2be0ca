//! The stock Python gRPC client (grpcio, stubs generated from `proto/` by
//! grpcio-tools) through one support flow against the four services:
//! `scripts/grpc_flow.py` ingests a cry for help, finds its case, replies and
//! reads the reply back, and sees a bad request's code and field.
//!
//! The client runs from a virtual environment the test makes once, outside
//! the checkout, with the versions pinned here (from PyPI), so a fresh
//! machine needs only Python 3 with `venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

use earshot_e2e::{Suite, run_client_script};

const GRPCIO: &str = "1.68.1";

/// A Python with grpcio and grpcio-tools, made on first use.
fn python() -> PathBuf {
    let venv = std::env::temp_dir().join(format!("earshot-python-grpcio-{GRPCIO}"));
    let python = venv.join("bin").join("python");
    if imports_grpc(&python) {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 runs (Debian: apt-get install python3-venv)");
    assert!(made.success(), "python3 -m venv {} failed", venv.display());
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([
            format!("grpcio=={GRPCIO}"),
            format!("grpcio-tools=={GRPCIO}"),
        ])
        .status()
        .expect("pip runs");
    assert!(
        installed.success(),
        "pip could not install grpcio {GRPCIO} from PyPI"
    );
    assert!(
        imports_grpc(&python),
        "grpcio does not import after installing"
    );
    python
}

fn imports_grpc(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn the_stock_python_client_ingests_finds_the_case_and_replies() {
    let suite = Suite::start().await;
    let python = tokio::task::spawn_blocking(python)
        .await
        .expect("the environment is made");
    let stdout = run_client_script(
        &python,
        "grpc_flow.py",
        &[
            suite.listening.addr().to_string(),
            suite.case.addr().to_string(),
        ],
    )
    .await;
    assert!(stdout.contains("read back"), "{stdout}");
    assert!(stdout.contains("INVALID_ARGUMENT (case_id"), "{stdout}");
}
