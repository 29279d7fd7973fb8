//! Where the loader reads a curriculum from: a directory on disk ([`Dir`]) or files held in
//! memory ([`Files`]). Both answer the same two questions, so one loader serves the CLI,
//! the demo, tests and fuzzing.
//!
//! Paths are relative to the curriculum root, `/`-separated, without a leading `/`; the
//! root itself is `""`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// What a directory entry is. Symbolic links are [`EntryKind::Other`]: the loader reads
/// them where it reads any file but never walks into them, as with a directory on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Anything else (a symbolic link, a socket...).
    Other,
}

/// One entry directly inside a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name (no `/`).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
}

/// A tree of curriculum files.
pub trait Source {
    /// The bytes of the file at `path`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] when there is no such file, any other error when it
    /// cannot be read.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;

    /// The entries directly inside the directory `path`, in any order.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] when there is no such directory.
    fn list(&self, path: &str) -> io::Result<Vec<Entry>>;
}

/// `dir/name`, or `name` at the root.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory holding `path` (`""` at the root).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// A curriculum directory on disk.
#[derive(Debug, Clone)]
pub struct Dir {
    root: PathBuf,
}

impl Dir {
    /// The curriculum rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(Path::new(path))
        }
    }
}

impl Source for Dir {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(path))
    }

    fn list(&self, path: &str) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(self.path(path))?.flatten() {
            // A name that is not UTF-8 keeps its replacement characters: reading it back
            // then fails, and the loader reports that file instead of skipping it silently.
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = match entry.file_type() {
                Ok(kind) if kind.is_dir() => EntryKind::Dir,
                Ok(kind) if kind.is_file() => EntryKind::File,
                Ok(_) => EntryKind::Other,
                Err(_) => continue,
            };
            entries.push(Entry { name, kind });
        }
        Ok(entries)
    }
}

/// A curriculum held in memory: path → contents. Directories are implied by the paths.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Files {
    files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Files {
    /// Contents as text, so a failing generated curriculum reads like its files.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.files
                    .iter()
                    .map(|(path, contents)| (path, String::from_utf8_lossy(contents))),
            )
            .finish()
    }
}

impl Files {
    /// No files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the file at `path`.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(path.into(), contents.into());
        self
    }

    /// The files, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_slice()))
    }
}

impl<P: Into<String>, C: Into<Vec<u8>>> FromIterator<(P, C)> for Files {
    fn from_iter<I: IntoIterator<Item = (P, C)>>(iter: I) -> Self {
        Self {
            files: iter
                .into_iter()
                .map(|(p, c)| (p.into(), c.into()))
                .collect(),
        }
    }
}

impl Source for Files {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list(&self, path: &str) -> io::Result<Vec<Entry>> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut entries: Vec<Entry> = Vec::new();
        let mut found = false;
        for file in self.files.keys() {
            let Some(rest) = file.strip_prefix(&prefix) else {
                continue;
            };
            found = true;
            let entry = match rest.split_once('/') {
                Some((dir, _)) => Entry {
                    name: dir.to_owned(),
                    kind: EntryKind::Dir,
                },
                None => Entry {
                    name: rest.to_owned(),
                    kind: EntryKind::File,
                },
            };
            // Keys are sorted, so a directory's files are adjacent: comparing with the
            // last entry suffices to list it once.
            if entries.last() != Some(&entry) {
                entries.push(entry);
            }
        }
        if found {
            Ok(entries)
        } else {
            Err(io::ErrorKind::NotFound.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_memory_list_like_a_directory() {
        let files: Files = [
            ("a/b.txt", "1"),
            ("a/c/d.txt", "2"),
            ("a/c/e.txt", "3"),
            ("top", "4"),
        ]
        .into_iter()
        .collect();
        let names = |path: &str| -> Vec<(String, EntryKind)> {
            files
                .list(path)
                .unwrap()
                .into_iter()
                .map(|e| (e.name, e.kind))
                .collect()
        };
        assert_eq!(
            names(""),
            [
                ("a".into(), EntryKind::Dir),
                ("top".into(), EntryKind::File)
            ]
        );
        assert_eq!(
            names("a"),
            [
                ("b.txt".into(), EntryKind::File),
                ("c".into(), EntryKind::Dir)
            ]
        );
        assert_eq!(files.read("a/c/e.txt").unwrap(), b"3");
        assert_eq!(
            files.list("missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(files.read("a").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a/b", "x"), "a/b/x");
        assert_eq!(parent("a/b/x"), "a/b");
        assert_eq!(parent("x"), "");
    }
}
