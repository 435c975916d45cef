//! Watching the rules path and reloading when it changes.
//!
//! Watching the file itself loses it the first time an editor saves by
//! rename (the watch follows the old inode), so we watch directories: the
//! rules path's parent, the rules directory itself when the path is one,
//! and the directory of the symlink target when the path is a symlink
//! (a Kubernetes ConfigMap mount swaps a `..data` symlink). That catches
//! in-place writes, rename-saves, delete and re-create, and symlink swaps.
//!
//! Events are filtered to the ones that concern the rules, debounced (an
//! editor writes in bursts), and then the watches are re-armed (directories
//! may have been replaced) *before* reloading, so a change made during the
//! reload is seen by the new watches. The reload itself decides whether
//! anything changed. This module never compiles rules itself.
//!
//! Before reloading, the watcher also waits until the files have stopped
//! changing: their size, modification time and inode, read by the watcher
//! itself, must be the same at both ends of one debounce period. Events
//! alone do not tell that a slow writer (a truncate, then writes a few at
//! a time) has finished, least of all in poll mode where a change is seen
//! only once per scan; a half-written file that happens to parse would
//! otherwise go into service.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{RulesHandle, Trigger};
use crate::config::WatchMode;

/// How to watch.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    pub mode: WatchMode,
    /// Quiet time after the last event before reloading.
    pub debounce: Duration,
    /// Scan interval in [`WatchMode::Poll`].
    pub poll_interval: Duration,
}

/// A running watcher. Dropping it stops watching.
#[derive(Debug)]
pub struct RulesWatcher {
    task: JoinHandle<()>,
    relevant: Arc<AtomicU64>,
}

impl RulesWatcher {
    /// How many file events so far concerned the rules (each asks for a
    /// reload). Events are counted in the order the system delivers them,
    /// so a test can tell that an event was judged irrelevant by waiting
    /// for a later relevant one, instead of waiting for nothing to happen.
    pub fn relevant_events(&self) -> u64 {
        self.relevant.load(Ordering::Relaxed)
    }
}

impl Drop for RulesWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long to wait before trying again to watch a directory that could
/// not be watched (e.g. it does not exist yet).
const RETRY: Duration = Duration::from_secs(1);

/// Starts watching `handle`'s rules path. Must be called inside a tokio
/// runtime. `WatchMode::Off` gives a watcher that does nothing.
pub fn spawn_watcher(handle: RulesHandle, config: WatchConfig) -> notify::Result<RulesWatcher> {
    let targets = Arc::new(Mutex::new(Targets::resolve(handle.path())));
    // Capacity 1: one pending "something changed" is all the loop needs.
    let (tx, rx) = mpsc::channel::<()>(1);
    let filter = Arc::clone(&targets);
    let relevant_events = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&relevant_events);
    let on_event = move |event: notify::Result<Event>| {
        let relevant = match &event {
            Ok(event) => filter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_relevant(event),
            Err(error) => {
                tracing::warn!(%error, "file watcher error; reloading to be safe");
                true
            }
        };
        if relevant {
            counted.fetch_add(1, Ordering::Relaxed);
            // Full means a reload is already pending.
            let _ = tx.try_send(());
        }
    };
    let watcher: Option<Box<dyn Watcher + Send>> = match config.mode {
        WatchMode::Inotify => Some(Box::new(notify::recommended_watcher(on_event)?)),
        WatchMode::Poll => Some(Box::new(notify::PollWatcher::new(
            on_event,
            notify::Config::default()
                .with_poll_interval(config.poll_interval)
                .with_compare_contents(true),
        )?)),
        WatchMode::Off => None,
    };
    let task = match watcher {
        Some(mut watcher) => {
            let mut armed = Vec::new();
            let complete = arm(watcher.as_mut(), &targets, &mut armed);
            tracing::info!(
                mode = ?config.mode,
                path = %handle.path().display(),
                directories = ?armed,
                "watching rules"
            );
            tokio::spawn(run(handle, watcher, targets, armed, complete, rx, config))
        }
        None => tokio::spawn(async {}),
    };
    Ok(RulesWatcher {
        task,
        relevant: relevant_events,
    })
}

async fn run(
    handle: RulesHandle,
    mut watcher: Box<dyn Watcher + Send>,
    targets: Arc<Mutex<Targets>>,
    mut armed: Vec<PathBuf>,
    mut complete: bool,
    mut rx: mpsc::Receiver<()>,
    config: WatchConfig,
) {
    loop {
        // Wait for a change, or retry arming directories that were missing.
        if complete {
            if rx.recv().await.is_none() {
                return;
            }
        } else {
            tokio::select! {
                received = rx.recv() => if received.is_none() { return },
                () = tokio::time::sleep(RETRY) => {}
            }
        }
        // Debounce: wait until no event came for `debounce`.
        loop {
            match tokio::time::timeout(config.debounce, rx.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return,
                Err(_quiet) => break,
            }
        }
        if !wait_until_stable(handle.path(), config.debounce, &mut rx).await {
            return;
        }
        {
            let mut current = targets.lock().unwrap_or_else(PoisonError::into_inner);
            *current = Targets::resolve(handle.path());
        }
        complete = arm(watcher.as_mut(), &targets, &mut armed);
        let reloading = handle.clone();
        if let Err(error) =
            tokio::task::spawn_blocking(move || reloading.reload(Trigger::Watch)).await
        {
            tracing::error!(%error, "reload task failed");
        }
    }
}

/// Waits until the files under `path` look the same at both ends of a
/// `quiet` period. Events that arrive meanwhile are consumed: the reload
/// that follows reads the files as they are then. Returns false when the
/// event channel is closed (the watcher is gone).
async fn wait_until_stable(path: &Path, quiet: Duration, rx: &mut mpsc::Receiver<()>) -> bool {
    let mut before = FilesStamp::of(path);
    loop {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            tokio::select! {
                received = rx.recv() => if received.is_none() { return false },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let after = FilesStamp::of(path);
        if after == before {
            return true;
        }
        tracing::debug!(path = %path.display(), "rules still being written; waiting");
        before = after;
    }
}

/// What the watcher can see of the rules files without reading them: for
/// each file its name, size, modification time and inode (a rename-save
/// or a symlink swap changes the inode even when size and time match).
/// Files that cannot be read are stamped by their error kind: the reload
/// will report them.
#[derive(Debug, PartialEq, Eq)]
struct FilesStamp(Vec<(PathBuf, Result<FileStamp, std::io::ErrorKind>)>);

#[derive(Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FilesStamp {
    fn of(path: &Path) -> FilesStamp {
        let files = match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => {
                crate::loader::rules_files(path).unwrap_or_default()
            }
            _ => vec![path.to_owned()],
        };
        FilesStamp(
            files
                .into_iter()
                .map(|file| {
                    let stamp = FileStamp::of(&file);
                    (file, stamp)
                })
                .collect(),
        )
    }
}

impl FileStamp {
    fn of(file: &Path) -> Result<FileStamp, std::io::ErrorKind> {
        let metadata = std::fs::metadata(file).map_err(|error| error.kind())?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode,
        })
    }
}

/// Re-watches every directory of interest (dropping the old watches first:
/// a directory may have been replaced). Returns false if one could not be
/// watched.
fn arm(watcher: &mut dyn Watcher, targets: &Mutex<Targets>, armed: &mut Vec<PathBuf>) -> bool {
    for dir in armed.drain(..) {
        // The directory may be gone; nothing to undo then.
        let _ = watcher.unwatch(&dir);
    }
    let dirs = targets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .directories();
    let mut complete = true;
    for dir in dirs {
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => armed.push(dir),
            Err(error) => {
                complete = false;
                tracing::warn!(directory = %dir.display(), %error, "cannot watch directory; will retry");
            }
        }
    }
    complete
}

/// The paths whose changes matter, resolved from the rules path.
#[derive(Debug, Clone)]
struct Targets {
    /// The rules path, absolute (symlinks not resolved).
    path: PathBuf,
    /// The rules path with symlinks resolved, when it exists.
    resolved: Option<PathBuf>,
    /// Whether the rules path is a directory of `*.rules` files.
    is_dir: bool,
}

impl Targets {
    fn resolve(path: &Path) -> Targets {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let resolved = std::fs::canonicalize(&path).ok();
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        Targets {
            path,
            resolved,
            is_dir,
        }
    }

    fn directories(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        if let Some(parent) = self.path.parent() {
            dirs.insert(parent.to_owned());
        }
        if self.is_dir {
            dirs.insert(self.path.clone());
        }
        if let Some(resolved) = &self.resolved {
            if self.is_dir {
                dirs.insert(resolved.clone());
            } else if let Some(parent) = resolved.parent() {
                dirs.insert(parent.to_owned());
            }
        }
        dirs
    }

    fn is_relevant(&self, event: &Event) -> bool {
        match event.kind {
            // Reads (ours included) must not trigger reloads, or a reload
            // would trigger the next one.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return false,
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => return false,
            _ => {}
        }
        if event.need_rescan() || event.paths.is_empty() {
            return true;
        }
        event.paths.iter().any(|path| self.concerns(path))
    }

    fn concerns(&self, path: &Path) -> bool {
        if path == self.path || self.resolved.as_deref() == Some(path) {
            return true;
        }
        // Kubernetes ConfigMap mounts: `..data`, `..2024_01_01_...`.
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(".."))
        {
            return true;
        }
        if self.is_dir {
            let parent = path.parent();
            return parent == Some(self.path.as_path()) || parent == self.resolved.as_deref();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    use super::*;

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths.iter().fold(Event::new(kind), |event, path| {
            event.add_path(PathBuf::from(path))
        })
    }

    #[test]
    fn file_targets_filter_events() {
        let targets = Targets {
            path: PathBuf::from("/srv/rules/main.rules"),
            resolved: Some(PathBuf::from("/srv/rules/..2026_01/main.rules")),
            is_dir: false,
        };
        let write = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Any));
        assert!(targets.is_relevant(&event(write, &["/srv/rules/main.rules"])));
        assert!(targets.is_relevant(&event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/srv/rules/.main.rules.swp", "/srv/rules/main.rules"]
        )));
        assert!(targets.is_relevant(&event(
            EventKind::Create(CreateKind::Any),
            &["/srv/rules/..data"]
        )));
        assert!(!targets.is_relevant(&event(write, &["/srv/rules/other.txt"])));
        assert!(!targets.is_relevant(&event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            &["/srv/rules/main.rules"]
        )));
        assert!(targets.is_relevant(&event(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            &["/srv/rules/main.rules"]
        )));
        let dirs = targets.directories();
        assert!(dirs.contains(Path::new("/srv/rules")));
        assert!(dirs.contains(Path::new("/srv/rules/..2026_01")));
    }

    #[test]
    fn directory_targets_take_their_files() {
        let targets = Targets {
            path: PathBuf::from("/srv/rules"),
            resolved: Some(PathBuf::from("/srv/rules")),
            is_dir: true,
        };
        let create = EventKind::Create(CreateKind::File);
        assert!(targets.is_relevant(&event(create, &["/srv/rules/extra.rules"])));
        assert!(targets.is_relevant(&event(create, &["/srv/rules"])));
        assert!(!targets.is_relevant(&event(create, &["/srv/other/extra.rules"])));
        let dirs = targets.directories();
        assert!(dirs.contains(Path::new("/srv")));
        assert!(dirs.contains(Path::new("/srv/rules")));
    }
}
