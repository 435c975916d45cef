//! Reading rules files from disk into [`Sources`].
//!
//! A rule set is either one file, or a directory whose `*.rules` files
//! (sorted by name, not recursive) are compiled together. This is the only
//! place that turns paths into rules text: `check`, `explain` and the
//! server's reloads all come through [`load_sources`], so they agree on what
//! "the rules at this path" means.
//!
//! It must not parse or check anything (that is [`crate::lang::compile`]),
//! and it never writes. [`check_options`] gathers from the environment
//! what checking needs and `lang` may not read itself.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::lang::{CheckOptions, SourceFile, Sources};

/// The largest rules file accepted. Spans are 32-bit byte offsets, and no
/// hand-written rule set comes near this; a bigger file is almost surely
/// the wrong path.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The extension of rules files inside a rules directory.
pub const RULES_EXTENSION: &str = "rules";

/// The options every command compiles rules with: `today` (from the
/// caller's clock) and as many parse threads as this process may use
/// cores (which reads cgroup limits: I/O that `lang` leaves to us).
pub fn check_options(today: NaiveDate) -> CheckOptions {
    CheckOptions {
        today,
        parse_threads: std::thread::available_parallelism().map_or(1, usize::from),
    }
}

/// Why a rules path could not be read. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path (or a file in the directory) does not exist.
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },
    /// Reading failed: permissions, a broken disk, ...
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Rules are UTF-8 text; `valid_up_to` is the offset of the first bad byte.
    #[error("{}: not UTF-8 text (byte {valid_up_to} is not valid UTF-8)", path.display())]
    NotUtf8 { path: PathBuf, valid_up_to: usize },
    /// A directory without any rules file: surely the wrong path.
    #[error("{}: directory holds no `*.{RULES_EXTENSION}` file", path.display())]
    EmptyDirectory { path: PathBuf },
    /// Over [`MAX_FILE_BYTES`].
    #[error(
        "{}: file is too large ({size} bytes; the limit is {} bytes)",
        path.display(),
        MAX_FILE_BYTES
    )]
    TooLarge { path: PathBuf, size: u64 },
    /// A socket, a device, a FIFO...
    #[error("{}: neither a file nor a directory", path.display())]
    NotAFile { path: PathBuf },
}

impl LoadError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::NotFound { path }
            | LoadError::Unreadable { path, .. }
            | LoadError::NotUtf8 { path, .. }
            | LoadError::EmptyDirectory { path }
            | LoadError::TooLarge { path, .. }
            | LoadError::NotAFile { path } => path,
        }
    }
}

/// Loads the rule set at `path`: a single file (whatever its extension),
/// or every `*.rules` file directly inside a directory, in name order.
///
/// Files in a directory whose name starts with `.` are skipped: editors
/// leave lock and swap files there (`.#main.rules`), and a Kubernetes
/// ConfigMap mount keeps its real data in `..data`, behind symlinks that
/// are followed like any other file. Each file's display name is the
/// directory path joined with the file name, so diagnostics point at a
/// path the user can open.
pub fn load_sources(path: &Path) -> Result<Sources, LoadError> {
    let metadata = fs::metadata(path).map_err(|error| io_error(path, error))?;
    if metadata.is_dir() {
        let files = rules_files(path)?
            .iter()
            .map(|file| load_file(file))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sources::new(files))
    } else if metadata.is_file() {
        Ok(Sources::new(vec![load_file(path)?]))
    } else {
        Err(LoadError::NotAFile {
            path: path.to_owned(),
        })
    }
}

/// The `*.rules` files directly inside `dir`, sorted by file name.
pub fn rules_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = fs::read_dir(dir).map_err(|error| io_error(dir, error))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| io_error(dir, error))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            // A non-UTF-8 name cannot end in `.rules` as far as we can tell;
            // treating it as unrelated is kinder than failing the whole set.
            continue;
        };
        let is_rules = Path::new(name)
            .extension()
            .is_some_and(|extension| extension == RULES_EXTENSION);
        if !is_rules || name.starts_with('.') {
            continue;
        }
        // Follow symlinks: a directory named `x.rules` is not a rules file.
        let path = entry.path();
        match fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => names.push(name.to_owned()),
            Ok(_) => {}
            Err(error) => return Err(io_error(&path, error)),
        }
    }
    if names.is_empty() {
        return Err(LoadError::EmptyDirectory {
            path: dir.to_owned(),
        });
    }
    names.sort();
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// Reads one file as rules text, enforcing the size limit while reading
/// (the file may grow between a `stat` and the read).
fn load_file(path: &Path) -> Result<SourceFile, LoadError> {
    let file = fs::File::open(path).map_err(|error| io_error(path, error))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| io_error(path, error))?;
    let size = bytes.len() as u64;
    if size > MAX_FILE_BYTES {
        let size = fs::metadata(path).map_or(size, |metadata| metadata.len().max(size));
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = String::from_utf8(bytes).map_err(|error| LoadError::NotUtf8 {
        path: path.to_owned(),
        valid_up_to: error.utf8_error().valid_up_to(),
    })?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

fn io_error(path: &Path, error: std::io::Error) -> LoadError {
    if error.kind() == std::io::ErrorKind::NotFound {
        LoadError::NotFound {
            path: path.to_owned(),
        }
    } else {
        LoadError::Unreadable {
            path: path.to_owned(),
            source: error,
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn names(sources: &Sources) -> Vec<String> {
        sources.iter().map(|(_, file)| file.name.clone()).collect()
    }

    #[test]
    fn a_single_file_keeps_its_path_as_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.rules");
        fs::write(&path, "keep\n").unwrap();
        let sources = load_sources(&path).unwrap();
        assert_eq!(names(&sources), vec![path.display().to_string()]);
        let (_, file) = sources.iter().next().unwrap();
        assert_eq!(&*file.text, "keep\n");
    }

    #[test]
    fn a_directory_loads_rules_files_sorted_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.rules",
            "a.rules",
            "notes.txt",
            ".#a.rules",
            "c.rules.bak",
        ] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        fs::create_dir(dir.path().join("sub.rules")).unwrap();
        fs::create_dir(dir.path().join("nested")).unwrap();
        fs::write(dir.path().join("nested/z.rules"), "z").unwrap();
        let sources = load_sources(dir.path()).unwrap();
        let expected: Vec<String> = ["a.rules", "b.rules"]
            .iter()
            .map(|name| dir.path().join(name).display().to_string())
            .collect();
        assert_eq!(names(&sources), expected);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_files_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("..data")).unwrap();
        fs::write(dir.path().join("..data/main.rules"), "keep\n").unwrap();
        std::os::unix::fs::symlink("..data/main.rules", dir.path().join("main.rules")).unwrap();
        let sources = load_sources(dir.path()).unwrap();
        assert_eq!(sources.len(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();

        let missing = dir.path().join("missing.rules");
        let error = load_sources(&missing).unwrap_err();
        assert!(matches!(error, LoadError::NotFound { .. }), "{error:?}");
        assert_eq!(error.path(), missing);
        assert!(error.to_string().contains("missing.rules"), "{error}");

        let error = load_sources(dir.path()).unwrap_err();
        assert!(
            matches!(error, LoadError::EmptyDirectory { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("*.rules"), "{error}");

        let binary = dir.path().join("binary.rules");
        fs::write(&binary, b"keep \xff\n").unwrap();
        let error = load_sources(&binary).unwrap_err();
        assert!(
            matches!(error, LoadError::NotUtf8 { valid_up_to: 5, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("binary.rules"), "{error}");
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.rules");
        let file = fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let error = load_sources(&big).unwrap_err();
        assert!(
            matches!(error, LoadError::TooLarge { size, .. } if size == MAX_FILE_BYTES + 1),
            "{error:?}"
        );
        // A file of exactly the limit is fine as far as the loader goes.
        fs::File::options()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES)
            .unwrap();
        // Zero bytes are valid UTF-8.
        assert!(load_sources(&big).is_ok());
    }
}
