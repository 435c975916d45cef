//! `switchboard fmt`: rewrite rules files in the canonical layout.
//!
//! The layout itself is [`crate::lang::format`]; this file reads files,
//! writes them back atomically (a temporary file beside the original, then
//! a rename, so a watching server never reads half a file), and with
//! `--check` shows a unified diff instead of writing. A file with syntax
//! errors is left alone and its diagnostics go to stderr.
//!
//! Exit: 0 when everything is (now) formatted; 1 when `--check` found a file
//! to reformat, or a file has syntax errors; 2 when a file could not be read
//! or written.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::exit::ExitStatus;
use super::ColorChoice;
use crate::lang::format::format_source;
use crate::lang::{render, SourceFile, Sources};
use crate::loader;

/// The exit codes of `fmt`, as shown at the end of its `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  every file is formatted (now, or already with --check)
  1  with --check, a file is not formatted; or a file has syntax errors
  2  a file could not be read or written";

#[derive(Debug, Clone, clap::Args)]
pub struct FmtArgs {
    /// Rules files, or directories (their `*.rules` files). `-` formats
    /// stdin to stdout.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Change nothing: show a diff of each file that is not formatted and
    /// exit 1 if there is one.
    #[arg(long)]
    pub check: bool,

    /// Colour the diagnostics of files with syntax errors.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Runs `fmt` against the real stdin, stdout and stderr.
pub fn run(args: &FmtArgs) -> ExitStatus {
    let color = args.color.enabled_on_stderr();
    super::on_std_streams(|out, err| execute(args, &mut io::stdin().lock(), out, err, color))
}

/// `fmt` with its streams and colour given, for tests and embedding.
pub fn execute(
    args: &FmtArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
) -> io::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    let mut files = Vec::new();
    for path in &args.paths {
        if path == Path::new("-") {
            files.push(Input::Stdin);
            continue;
        }
        match fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => match loader::rules_files(path) {
                Ok(found) => files.extend(found.into_iter().map(Input::File)),
                Err(error) => {
                    writeln!(err, "error: {error}")?;
                    status = status.worst(ExitStatus::Failure);
                }
            },
            Ok(_) => files.push(Input::File(path.clone())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                writeln!(err, "error: {}: no such file or directory", path.display())?;
                status = status.worst(ExitStatus::Failure);
            }
            Err(error) => {
                writeln!(err, "error: {}: {error}", path.display())?;
                status = status.worst(ExitStatus::Failure);
            }
        }
    }

    let mut changed = 0;
    let mut unchanged = 0;
    for input in &files {
        let source = match input {
            Input::Stdin => {
                let mut text = String::new();
                if let Err(error) = stdin.read_to_string(&mut text) {
                    writeln!(err, "error: <stdin>: cannot read: {error}")?;
                    status = status.worst(ExitStatus::Failure);
                    continue;
                }
                SourceFile::new("<stdin>", text)
            }
            Input::File(path) => match loader::load_sources(path) {
                Ok(sources) => match sources.iter().next() {
                    Some((_, file)) => file.clone(),
                    None => continue,
                },
                Err(error) => {
                    writeln!(err, "error: {error}")?;
                    status = status.worst(ExitStatus::Failure);
                    continue;
                }
            },
        };
        let formatted = match format_source(&source) {
            Ok(formatted) => formatted,
            Err(diagnostics) => {
                let sources = Sources::new(vec![source.clone()]);
                err.write_all(render::render(&diagnostics, &sources, color).as_bytes())?;
                writeln!(
                    err,
                    "\nerror: {}: not formatted: {}",
                    source.name,
                    render::summary(&diagnostics)
                )?;
                status = status.worst(ExitStatus::Invalid);
                continue;
            }
        };
        let same = formatted == *source.text;
        match input {
            Input::Stdin if args.check => {
                if !same {
                    write_diff(out, &source.name, &source.text, &formatted)?;
                    status = status.worst(ExitStatus::Invalid);
                }
            }
            Input::Stdin => out.write_all(formatted.as_bytes())?,
            Input::File(path) => {
                if same {
                    unchanged += 1;
                } else if args.check {
                    changed += 1;
                    write_diff(out, &source.name, &source.text, &formatted)?;
                    status = status.worst(ExitStatus::Invalid);
                } else {
                    match write_atomically(path, &formatted) {
                        Ok(()) => {
                            changed += 1;
                            writeln!(out, "formatted {}", path.display())?;
                        }
                        Err(error) => {
                            writeln!(err, "error: {}: cannot write: {error}", path.display())?;
                            status = status.worst(ExitStatus::Failure);
                        }
                    }
                }
            }
        }
    }
    let files_done = changed + unchanged;
    if files_done > 0 {
        let files_word = |n: usize| if n == 1 { "file" } else { "files" };
        if args.check {
            if changed > 0 {
                writeln!(
                    out,
                    "{changed} {} would be reformatted, {unchanged} already formatted",
                    files_word(changed)
                )?;
            }
        } else if changed > 0 {
            writeln!(
                out,
                "{changed} {} reformatted, {unchanged} already formatted",
                files_word(changed)
            )?;
        }
    }
    out.flush()?;
    Ok(status)
}

#[derive(Debug)]
enum Input {
    Stdin,
    File(PathBuf),
}

/// A unified diff from the file as it is to the file formatted.
fn write_diff(out: &mut dyn Write, name: &str, old: &str, new: &str) -> io::Result<()> {
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// Replaces `path`'s content with `text` in one step: write a temporary
/// file in the same directory (a dot-file, which rules loaders and watchers
/// skip), give it the original's permissions, flush it to disk, rename it
/// over the original. A symlink is followed, so the link stays a link and
/// its target gets the new text.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let real = fs::canonicalize(path)?;
    let dir = real.parent().unwrap_or(Path::new("."));
    let name = real
        .file_name()
        .map_or_else(|| "rules".into(), |name| name.to_string_lossy());
    let permissions = fs::metadata(&real)?.permissions();
    let mut attempt = 0;
    let (temporary, mut file) = loop {
        let candidate = dir.join(format!(".{name}.fmt-{}-{attempt}.tmp", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            // Left behind by a run that was killed: try another name.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    };
    let written = (|| {
        file.write_all(text.as_bytes())?;
        file.set_permissions(permissions)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, &real)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temporary);
    }
    written
}
