//! Shared helpers for tests that run the real `switchboard` binary.
//!
//! [`Cmd`] builds
//! one invocation and returns its status and captured output; [`Rules`]
//! writes rules files into a fresh temporary directory; [`event`] points at
//! the captured Aircall payloads in `tests/data/events/`.
//!
//! Nothing here touches the process environment or a fixed path, so tests
//! using it can run in parallel.

#![allow(clippy::expect_used, reason = "test helpers fail loudly")]
#![allow(clippy::panic, reason = "test helpers fail loudly")]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The path of a captured event payload, e.g. `event("call_created_inbound")`.
pub(crate) fn event(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/events")
        .join(format!("{name}.json"));
    assert!(path.is_file(), "no event fixture {}", path.display());
    path
}

/// One run of the `switchboard` binary.
#[must_use]
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    dir: Option<PathBuf>,
}

impl Cmd {
    /// `switchboard` with no arguments, and with `NO_COLOR` removed from
    /// its environment so output does not depend on the caller's shell.
    pub(crate) fn new() -> Cmd {
        Cmd {
            args: Vec::new(),
            envs: vec![("NO_COLOR".into(), None)],
            stdin: None,
            dir: None,
        }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// Bytes written to the child's stdin (otherwise stdin is empty).
    pub(crate) fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    pub(crate) fn current_dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.dir = Some(dir.into());
        self
    }

    /// Runs the binary to completion.
    pub(crate) fn run(self) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().expect("spawn switchboard");
        let mut stdin = child.stdin.take().expect("child stdin");
        if let Some(bytes) = &self.stdin {
            stdin.write_all(bytes).expect("write child stdin");
        }
        drop(stdin);
        let output = child.wait_with_output().expect("wait for switchboard");
        Output {
            args: self.args,
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}

impl Default for Cmd {
    fn default() -> Self {
        Cmd::new()
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    args: Vec<OsString>,
    /// `None` when the process was killed by a signal.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Asserts the exit code, showing everything the run printed if not.
    pub(crate) fn code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(expected),
            "switchboard {:?} exited with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as one JSON document.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "stdout is not JSON ({error}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A temporary directory of rules files; removed when dropped.
#[derive(Debug)]
pub(crate) struct Rules {
    dir: tempfile::TempDir,
}

impl Rules {
    pub(crate) fn new() -> Rules {
        Rules {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A directory holding one file `name` with `text`; returns the
    /// directory handle and the file's path.
    pub(crate) fn file(name: &str, text: &str) -> (Rules, PathBuf) {
        let rules = Rules::new();
        let path = rules.write(name, text);
        (rules, path)
    }

    /// Writes (or overwrites) `name` (may contain `/`) under the directory.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, text).expect("write rules file");
        path
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new()
    }
}
