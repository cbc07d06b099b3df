//! A real Ethereum node for end-to-end tests: anvil from the npm package `@foundry-rs/anvil`.
//!
//! Found through `ANVIL_BIN`, else `node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil` in the
//! crate root (what `.ci/run` installs). Absent locally → the test is skipped and says so on a
//! `SKIPPED:` line that the test harness does not capture (`scripts/test.sh` counts these lines
//! at the end); absent under CI (`CI` set, and not `false` or `0`) → the test fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Anvil {
    child: Child,
    pub port: u16,
}

impl Anvil {
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    fn binary() -> Option<PathBuf> {
        if let Ok(p) = std::env::var("ANVIL_BIN") {
            return Some(PathBuf::from(p));
        }
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        p.exists().then_some(p)
    }

    /// Starts anvil on a free loopback port, or returns `None` (skip) when it is not installed
    /// and this is not CI.
    pub fn spawn(test: &str) -> Option<Self> {
        let Some(bin) = Self::binary() else {
            if in_ci() {
                panic!("anvil is not installed but CI is set: run `npm install @foundry-rs/anvil@1.7.1` (see .ci/run) or set ANVIL_BIN");
            }
            report_skip(test);
            return None;
        };
        let mut child = Command::new(&bin)
            .args(["--port", "0", "--host", "127.0.0.1", "--chain-id", "31337"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let port = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                    let _ = tx.send(port);
                }
            }
        });
        // The deterministic signal is anvil's own "Listening on" line; the timeout only bounds
        // a broken install.
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("anvil did not print its listening address");
        Some(Self { child, port })
    }
}

/// Whether this runs in CI, where a missing anvil is an error rather than a skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Reports a skipped test on the process's stderr itself: libtest captures `eprintln!` of a test
/// that passes, so a skip reported that way would be silent.
fn report_skip(test: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {test}: anvil not found (set ANVIL_BIN or `npm install @foundry-rs/anvil@1.7.1`)"
    );
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
