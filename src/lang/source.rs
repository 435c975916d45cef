//! Rules source text and the mapping from byte offsets to lines and columns.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use unicode_width::UnicodeWidthChar;

use super::span::{FileId, Span};

/// Tab stops used when rendering a source line: carets must line up with
/// what a terminal shows, so tabs are expanded to this width.
pub const TAB_WIDTH: usize = 4;

/// One rules file: its display name (usually its path) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts: line_starts.into(),
        }
    }

    /// The 1-based line and 1-based column (counted in characters) of a byte
    /// offset. Offsets past the end map to the end of the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line(offset);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        (line, column + 1)
    }

    /// The 1-based line of a byte offset: [`SourceFile::line_col`] without
    /// the column, whose count of characters costs the length of the line
    /// (`explain` asks the line of every condition of a rule, and a rule
    /// may be one line of a hundred thousand conditions).
    pub fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line + 1,
            Err(next) => next.max(1),
        }
    }

    /// The text of a 1-based line, without its line terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = line.checked_sub(1).and_then(|i| self.line_starts.get(i)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next.saturating_sub(1));
        let text = self.text.get(start..end).unwrap_or("");
        text.strip_suffix('\r').unwrap_or(text)
    }

    /// Number of lines (a trailing newline does not start a new line).
    pub fn line_count(&self) -> usize {
        if self.text.ends_with('\n') {
            self.line_starts.len() - 1
        } else {
            self.line_starts.len()
        }
    }

    /// The source text under a span.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// The display width of `text` as a terminal shows it, with tabs expanded
/// to [`TAB_WIDTH`] stops and wide characters (CJK, emoji) counted as two.
pub fn display_width(text: &str) -> usize {
    text.chars().fold(0, |width, c| {
        if c == '\t' {
            width + TAB_WIDTH - width % TAB_WIDTH
        } else {
            width + c.width().unwrap_or(0)
        }
    })
}

/// All the files of one rule set, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn new(files: Vec<SourceFile>) -> Self {
        Sources { files }
    }

    pub fn single(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Sources::new(vec![SourceFile::new(name, text)])
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, file)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), file))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// 1-based line of the start of a span, or 0 when the file is unknown.
    pub fn line_of(&self, span: Span) -> usize {
        self.get(span.file)
            .map_or(0, |file| file.line(span.start as usize))
    }

    pub fn file_name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |file| file.name.as_str())
    }

    /// A SHA-256 of every file's name and text, in order: the one content
    /// hash behind the rule set's revision and the reload's "unchanged"
    /// test, so the two cannot disagree on what counts as a change.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for file in &self.files {
            // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
            hasher.update((file.name.len() as u64).to_le_bytes());
            hasher.update(file.name.as_bytes());
            hasher.update((file.text.len() as u64).to_le_bytes());
            hasher.update(file.text.as_bytes());
        }
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let file = SourceFile::new("t", "ab\nçé x\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        // 'x' is after two 2-byte characters and a space.
        assert_eq!(file.line_col(8), (2, 4));
        assert_eq!(file.line_text(2), "çé x");
        assert_eq!(file.line_count(), 2);
    }

    #[test]
    fn line_is_the_line_of_line_col() {
        let file = SourceFile::new("t", "ab\nçé x\n\nlast");
        for offset in 0..=file.text.len() + 2 {
            assert_eq!(file.line(offset), file.line_col(offset).0, "at {offset}");
        }
    }

    #[test]
    fn display_width_expands_tabs_and_wide_characters() {
        assert_eq!(display_width("\tx"), 5);
        assert_eq!(display_width("ab\tx"), 5);
        assert_eq!(display_width("日本"), 4);
    }
}
