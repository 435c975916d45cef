//! `switchboard serve` as a child process: started on 127.0.0.1:0, its
//! address read from its "listening" line, its stderr kept line by line;
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test, logging at `info` whatever the environment says.
pub(crate) fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env("RUST_LOG", "info").env_remove("NO_COLOR");
    command
}

/// A running `serve` process and its stderr lines.
pub(crate) struct ServeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub(crate) seen: Vec<String>,
    pub(crate) base: String,
}

impl ServeProcess {
    /// Starts `serve` on 127.0.0.1:0 and waits for its "listening" line.
    pub(crate) fn start(args: &[&str]) -> ServeProcess {
        let mut command = switchboard();
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args);
        ServeProcess::spawn(command)
    }

    /// Like [`ServeProcess::start`], from a shell that first lowers the
    /// open-files soft limit to `soft`.
    pub(crate) fn start_with_open_files(soft: u64, args: &[&str]) -> ServeProcess {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -S -n {soft} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR");
        ServeProcess::spawn(command)
    }

    /// The process id (the shell's, which `exec` made the server's).
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    fn spawn(mut command: Command) -> ServeProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = ServeProcess {
            child,
            lines,
            seen: Vec::new(),
            base: String::new(),
        };
        let line = process.wait_for_line_within("listening on http://", Duration::from_secs(20));
        let address = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap();
        process.base = format!("http://{address}");
        process
    }

    /// Waits (up to 10 s) for a stderr line containing `needle`.
    pub(crate) fn wait_for_line(&mut self, needle: &str) -> String {
        self.wait_for_line_within(needle, Duration::from_secs(10))
    }

    fn wait_for_line_within(&mut self, needle: &str, within: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|line| line.contains(needle)) {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left);
            assert!(
                line.is_ok(),
                "no line with {needle:?} in:\n{}",
                self.seen.join("\n")
            );
            let line = line.unwrap();
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Every stderr line so far, without waiting for more.
    pub(crate) fn lines_so_far(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to 10 s) for the process to exit; returns its code.
    pub(crate) fn wait_exit(&mut self) -> i32 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Collect what is left of stderr.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl ServeProcess {
    /// `kill -9`: no shutdown of any kind.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
