//! Hot reload: the watcher picks up every way files change on disk, an
//! invalid set never replaces the running one, and the outcome is visible.
//! Real files in temporary directories; short debounce; polling with a
//! deadline.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::serve::{dry_run_config, eventually, RulesDir, Server};
use switchboard::config::WatchMode;
use switchboard::metrics::Metrics;
use switchboard::reload::{
    spawn_watcher, ReloadOutcome, RulesHandle, RulesPolicy, RulesWatcher, Trigger, WatchConfig,
};

/// A valid rule set whose revision differs for every `n`.
fn version(n: u32) -> String {
    format!(
        "rule \"version {n}\"\nwhen caller == \"+44 20 7946 0958\"\ntransfer to \"+3317636069{}\"\n",
        n % 10
    )
}

/// A rule set with an error (an unknown subject).
const INVALID: &str = "rule \"broken\"\nwhen caller.contry == \"FR\"\nkeep\n";

fn rule_name(handle: &RulesHandle) -> String {
    handle
        .current()
        .rule_set
        .rules()
        .next()
        .and_then(|rule| rule.name.map(str::to_owned))
        .unwrap_or_default()
}

fn watch(handle: &RulesHandle, mode: WatchMode) -> RulesWatcher {
    spawn_watcher(
        handle.clone(),
        WatchConfig {
            mode,
            debounce: Duration::from_millis(50),
            poll_interval: Duration::from_millis(50),
        },
    )
    .unwrap()
}

fn load(path: &Path) -> RulesHandle {
    RulesHandle::load(path, Arc::new(Metrics::new())).unwrap()
}

async fn wait_for_version(handle: &RulesHandle, n: u32) {
    let expected = format!("version {n}");
    eventually(&format!("rules `{expected}` in service"), || {
        let matches = rule_name(handle) == expected;
        async move { matches }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_write() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, WatchMode::Inotify);
    let first = handle.current().revision().to_owned();
    std::fs::write(rules.file(), version(2)).unwrap();
    wait_for_version(&handle, 2).await;
    assert_ne!(handle.current().revision(), first);
    let last = handle.last_reload().unwrap();
    assert_eq!(last.outcome, "applied");
    assert_eq!(last.trigger, Trigger::Watch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_save_like_an_atomic_writer() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, WatchMode::Inotify);
    let temporary = rules.path().join(".main.rules.tmp");
    std::fs::write(&temporary, version(2)).unwrap();
    std::fs::rename(&temporary, rules.file()).unwrap();
    wait_for_version(&handle, 2).await;
    // The watch survived the inode change: a second save is seen too.
    std::fs::write(&temporary, version(3)).unwrap();
    std::fs::rename(&temporary, rules.file()).unwrap();
    wait_for_version(&handle, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vim_style_backup_then_write() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, WatchMode::Inotify);
    let backup = rules.path().join("main.rules~");
    std::fs::rename(rules.file(), &backup).unwrap();
    std::fs::write(rules.file(), version(2)).unwrap();
    std::fs::remove_file(&backup).unwrap();
    wait_for_version(&handle, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_recreate() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, WatchMode::Inotify);
    std::fs::remove_file(rules.file()).unwrap();
    // Gone for longer than the debounce: the reload is rejected (missing
    // file) and the running rules stay.
    eventually("the deletion to be noticed", || {
        let outcome = handle.last_reload().map(|r| r.outcome);
        async move { outcome == Some("rejected") }
    })
    .await;
    assert_eq!(rule_name(&handle), "version 1");
    let reason = handle.last_reload().unwrap().rejection.unwrap().reason;
    assert!(reason.contains("no such file"), "{reason}");
    std::fs::write(rules.file(), version(2)).unwrap();
    wait_for_version(&handle, 2).await;
    assert_eq!(handle.last_reload().unwrap().outcome, "applied");
}

/// A Kubernetes ConfigMap mount: `main.rules -> ..data/main.rules`,
/// `..data -> ..<timestamp>`; an update swaps the `..data` symlink.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_symlink_swap() {
    use std::os::unix::fs::symlink;
    let mount = tempfile::tempdir().unwrap();
    let root = mount.path();
    std::fs::create_dir(root.join("..2026_11_01_first")).unwrap();
    std::fs::write(root.join("..2026_11_01_first/main.rules"), version(1)).unwrap();
    symlink("..2026_11_01_first", root.join("..data")).unwrap();
    symlink("..data/main.rules", root.join("main.rules")).unwrap();

    let handle = load(&root.join("main.rules"));
    let _watcher = watch(&handle, WatchMode::Inotify);
    assert_eq!(rule_name(&handle), "version 1");

    // What the kubelet does: new directory, new link, atomic rename.
    let swap = |from: &str, to: &str, n: u32| {
        std::fs::create_dir(root.join(to)).unwrap();
        std::fs::write(root.join(to).join("main.rules"), version(n)).unwrap();
        symlink(to, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join(from)).unwrap();
    };
    swap("..2026_11_01_first", "..2026_11_02_second", 2);
    wait_for_version(&handle, 2).await;
    // And again, now that the watches were re-armed on the new target.
    swap("..2026_11_02_second", "..2026_11_03_third", 3);
    wait_for_version(&handle, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_directory_takes_new_files() {
    let rules = RulesDir::new(&version(1));
    let handle = load(rules.path());
    let watcher = watch(&handle, WatchMode::Inotify);
    assert_eq!(handle.current().rule_set.rule_count(), 1);
    std::fs::write(
        rules.path().join("extra.rules"),
        "rule \"extra\"\nwhen caller == \"+44 20 7946 0959\"\nkeep\n",
    )
    .unwrap();
    eventually("the second file to be loaded", || {
        let count = handle.current().rule_set.rule_count();
        async move { count == 2 }
    })
    .await;
    assert_eq!(handle.current().files.len(), 2);
    // Files that are not `*.rules` do not matter. (Any file of the
    // directory asks for a reload, which finds the rules unchanged.)
    let applied = handle.current().revision().to_owned();
    std::fs::write(rules.path().join("notes.txt"), "not rules").unwrap();
    touch_after_everything_before(&handle, &watcher, &rules.file()).await;
    assert_eq!(handle.current().rule_set.rule_count(), 2);
    assert_eq!(handle.current().revision(), applied);
    assert_eq!(handle.last_reload().unwrap().outcome, "unchanged");
}

/// Changes `file`'s modification time without writing it (one relevant
/// event), and waits for the reload it causes: by then the watcher has
/// judged every event the system delivered before it.
async fn touch_after_everything_before(handle: &RulesHandle, watcher: &RulesWatcher, file: &Path) {
    let (reloads, relevant) = (handle.reloads(), watcher.relevant_events());
    std::fs::File::open(file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    eventually("the touch to be seen and reloaded", || {
        let seen = watcher.relevant_events() > relevant && handle.reloads() > reloads;
        async move { seen }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_sees_changes_too() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, WatchMode::Poll);
    std::fs::write(rules.file(), version(2)).unwrap();
    wait_for_version(&handle, 2).await;
    let temporary = rules.path().join("tmp.rules.new");
    std::fs::write(&temporary, version(3)).unwrap();
    std::fs::rename(&temporary, rules.file()).unwrap();
    wait_for_version(&handle, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_trigger_another() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let watcher = watch(&handle, WatchMode::Inotify);
    std::fs::write(rules.file(), version(2)).unwrap();
    wait_for_version(&handle, 2).await;
    // Our own reads of the file (this reload's, and a few more) must not
    // look like changes: of everything delivered up to a later touch,
    // only the touch is relevant.
    let relevant = watcher.relevant_events();
    for _ in 0..3 {
        std::fs::read_to_string(rules.file()).unwrap();
    }
    touch_after_everything_before(&handle, &watcher, &rules.file()).await;
    assert_eq!(watcher.relevant_events(), relevant + 1);
    assert_eq!(rule_name(&handle), "version 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_outcomes_applied_unchanged_rejected() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let first = handle.current().revision().to_owned();

    assert!(matches!(
        handle.reload(Trigger::Admin),
        ReloadOutcome::Unchanged { revision } if revision == first
    ));

    std::fs::write(rules.file(), INVALID).unwrap();
    let ReloadOutcome::Rejected(rejection) = handle.reload(Trigger::Admin) else {
        unreachable!("an invalid rule set was not rejected");
    };
    assert_eq!(rejection.reason, "1 error");
    assert_eq!(rejection.diagnostics.len(), 1);
    assert_eq!(rejection.diagnostics[0].code, "unknown-subject");
    // The same text `switchboard check` prints.
    let rendered = rejection.rendered();
    assert!(rendered.contains("error[unknown-subject]"), "{rendered}");
    assert!(rendered.contains("main.rules:2:6"), "{rendered}");
    assert_eq!(handle.current().revision(), first);
    assert_eq!(rule_name(&handle), "version 1");

    std::fs::write(rules.file(), version(2)).unwrap();
    let ReloadOutcome::Applied {
        revision, previous, ..
    } = handle.reload(Trigger::Admin)
    else {
        unreachable!("a valid rule set was not applied");
    };
    assert_eq!(previous, first);
    assert_eq!(handle.current().revision(), revision);
    assert_eq!(rule_name(&handle), "version 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_keeps_the_old_rules_and_shows_on_status() {
    let rules = RulesDir::new(&support::serve::RULES.replace("\"to alice\"", "\"alice v1\""));
    let mut config = dry_run_config(&rules.file());
    config.watch = WatchMode::Inotify;
    let server = Server::start(&config).await;
    let (_, status) = server.get_json("/status").await;
    let first = status["rules"]["revision"].as_str().unwrap().to_owned();

    std::fs::write(rules.file(), INVALID).unwrap();
    eventually("the rejection on /status", || async {
        let (_, status) = server.get_json("/status").await;
        status["last_reload"]["outcome"] == "rejected"
    })
    .await;
    let (_, status) = server.get_json("/status").await;
    assert_eq!(status["rules"]["revision"], first.as_str(), "{status}");
    let rejection = &status["last_reload"]["rejection"];
    assert_eq!(rejection["reason"], "1 error");
    assert!(rejection["report"]["rendered"]
        .as_str()
        .unwrap()
        .contains("error[unknown-subject]"));
    assert_eq!(
        rejection["report"]["files"][0]["diagnostics"][0]["code"],
        "unknown-subject"
    );
    assert_eq!(status["counts"]["reloads_rejected"], 1);
    // Calls are still decided by the old rules.
    let (_, answer) = server
        .webhook(&support::serve::call_created(1, "+44 20 7946 0958", None))
        .await;
    assert_eq!(answer["decision"]["rule"]["name"], "alice v1");
    assert_eq!(answer["revision"], first.as_str());
    let (_, metrics) = server.get("/metrics").await;
    assert!(metrics.contains(r#"switchboard_reloads_total{outcome="rejected"} 1"#));

    // Fixed: applied, and the failure is no longer shown.
    std::fs::write(
        rules.file(),
        support::serve::RULES.replace("\"to alice\"", "\"alice v2\""),
    )
    .unwrap();
    eventually("the fix on /status", || async {
        let (_, status) = server.get_json("/status").await;
        status["last_reload"]["outcome"] == "applied"
    })
    .await;
    let (_, status) = server.get_json("/status").await;
    assert!(status["last_reload"].get("rejection").is_none(), "{status}");
    assert_ne!(status["rules"]["revision"], first.as_str());
    let (_, answer) = server
        .webhook(&support::serve::call_created(2, "+44 20 7946 0958", None))
        .await;
    assert_eq!(answer["decision"]["rule"]["name"], "alice v2");
    server.stop().await;
}

fn watch_slowly(handle: &RulesHandle, mode: WatchMode, poll_interval: Duration) -> RulesWatcher {
    spawn_watcher(
        handle.clone(),
        WatchConfig {
            mode,
            debounce: Duration::from_millis(100),
            poll_interval,
        },
    )
    .unwrap()
}

/// Every revision that was in service while it ran, sampled every
/// millisecond (a wrongly applied set stays in service for at least a
/// debounce period, far longer).
struct RevisionLog {
    seen: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RevisionLog {
    fn start(handle: &RulesHandle) -> RevisionLog {
        let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let (handle, log) = (handle.clone(), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            loop {
                let revision = handle.current().revision().to_owned();
                log.lock().unwrap().insert(revision);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        RevisionLog { seen, task }
    }

    fn stop(self) -> std::collections::BTreeSet<String> {
        self.task.abort();
        let seen = self.seen.lock().unwrap();
        seen.clone()
    }
}

async fn wait_for_rejection(handle: &RulesHandle) -> String {
    eventually("the reload to be rejected", || {
        let outcome = handle.last_reload().map(|r| r.outcome);
        async move { outcome == Some("rejected") }
    })
    .await;
    handle.last_reload().unwrap().rejection.unwrap().reason
}

async fn truncation_is_refused(mode: WatchMode) {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let _watcher = watch(&handle, mode);
    // `: > main.rules`
    std::fs::File::create(rules.file()).unwrap();
    let reason = wait_for_rejection(&handle).await;
    assert!(reason.contains("main.rules has no rule"), "{reason}");
    assert!(reason.contains("allow_empty_rules: true"), "{reason}");
    assert_eq!(rule_name(&handle), "version 1");
    assert_eq!(handle.current().rule_set.rule_count(), 1);
    std::fs::write(rules.file(), version(2)).unwrap();
    wait_for_version(&handle, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_refused_inotify() {
    truncation_is_refused(WatchMode::Inotify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_refused_poll() {
    truncation_is_refused(WatchMode::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_definitions_but_no_rule_is_refused() {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    std::fs::write(rules.file(), "number main = 1234\n").unwrap();
    let ReloadOutcome::Rejected(rejection) = handle.reload(Trigger::Admin) else {
        unreachable!("a rule set without rules replaced one with rules");
    };
    assert!(
        rejection.rendered().contains("main.rules has no rule"),
        "{}",
        rejection.rendered()
    );
    assert_eq!(rule_name(&handle), "version 1");
    // Nor can the server start on it.
    let error = RulesHandle::load(rules.file(), Arc::new(Metrics::new())).unwrap_err();
    assert!(
        error.reason.contains("every call would be kept"),
        "{}",
        error.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_rule_set_is_served_when_the_configuration_allows_it() {
    let rules = RulesDir::new("");
    let allow = RulesPolicy { allow_empty: true };
    let handle = RulesHandle::load_with(rules.file(), Arc::new(Metrics::new()), allow).unwrap();
    assert_eq!(handle.current().rule_set.rule_count(), 0);
    std::fs::write(rules.file(), version(1)).unwrap();
    assert!(matches!(
        handle.reload(Trigger::Admin),
        ReloadOutcome::Applied { .. }
    ));
    std::fs::File::create(rules.file()).unwrap();
    assert!(matches!(
        handle.reload(Trigger::Admin),
        ReloadOutcome::Applied { .. }
    ));
    assert_eq!(handle.current().rule_set.rule_count(), 0);
}

/// A writer that truncates the file, then writes it a rule at a time with
/// pauses shorter than the debounce: every prefix is a valid rule set, and
/// none but the last may go into service.
async fn a_slow_writer_is_waited_for(mode: WatchMode, poll_interval: Duration) {
    let rules = RulesDir::new(&version(1));
    let handle = load(&rules.file());
    let initial = handle.current().revision().to_owned();
    let _watcher = watch_slowly(&handle, mode, poll_interval);
    let log = RevisionLog::start(&handle);

    let chunks: Vec<String> =
        std::iter::once(version(2))
            .chain((10..22).map(|n| {
                format!("rule \"extra {n}\"\nwhen caller == \"+44 20 7946 09{n}\"\nkeep\n")
            }))
            .collect();
    let whole = chunks.concat();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(rules.file()).unwrap();
        for chunk in &chunks {
            file.write_all(chunk.as_bytes()).unwrap();
            file.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let rule_count = chunks.len();
    eventually("the whole file in service", || {
        let count = handle.current().rule_set.rule_count();
        async move { count == rule_count }
    })
    .await;
    let last = handle.current().revision().to_owned();
    let seen = log.stop();
    let expected: std::collections::BTreeSet<String> = [initial, last].into();
    assert_eq!(
        seen,
        expected,
        "a part of the file went into service ({} bytes written in all)",
        whole.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_is_waited_for_inotify() {
    a_slow_writer_is_waited_for(WatchMode::Inotify, Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_is_waited_for_poll() {
    // A scan sees a change at most every 250 ms, much longer than the
    // debounce: the events alone cannot tell that the writer is done.
    a_slow_writer_is_waited_for(WatchMode::Poll, Duration::from_millis(250)).await;
}
