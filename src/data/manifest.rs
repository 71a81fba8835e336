//! `www/data/manifest.json`: which prepared data sets exist, and how to load them.

use serde::{Deserialize, Serialize};

use super::{DataError, Dataset, ImageShape, parse_cifar, parse_idx_images};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub sets: Vec<SetEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetEntry {
    /// Canonical name, as in the `data=` URL parameter: mnist, fashion, cifar10.
    pub name: String,
    pub title: String,
    /// Where the images came from (citation and source files).
    pub source: String,
    pub format: Format,
    pub classes: Vec<String>,
    pub shape: ImageShape,
    pub train: SplitEntry,
    pub test: SplitEntry,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Gzipped IDX: one image file and one label file.
    Idx,
    /// Gzipped CIFAR-10 binary: one file of records.
    Cifar,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitEntry {
    pub count: usize,
    pub files: Vec<FileEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub role: FileRole,
    /// Path relative to the manifest.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    Images,
    Labels,
    Records,
}

impl Manifest {
    pub const VERSION: u32 = 1;

    pub fn parse(json: &str) -> Result<Self, DataError> {
        let m: Manifest = serde_json::from_str(json)
            .map_err(|e| DataError::Invalid(format!("manifest.json is malformed: {e}")))?;
        if m.version != Self::VERSION {
            return Err(DataError::Invalid(format!(
                "manifest.json has version {}, this riglab reads version {}",
                m.version,
                Self::VERSION
            )));
        }
        Ok(m)
    }

    pub fn set(&self, name: &str) -> Option<&SetEntry> {
        self.sets.iter().find(|s| s.name == name)
    }
}

impl SplitEntry {
    pub fn file(&self, role: FileRole) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.role == role)
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

impl SetEntry {
    /// Decodes a split from its files' bytes, given in the order of `split.files`.
    pub fn decode(&self, split: &SplitEntry, contents: &[Vec<u8>]) -> Result<Dataset, DataError> {
        let get = |role| {
            split
                .files
                .iter()
                .position(|f| f.role == role)
                .and_then(|i| contents.get(i))
                .ok_or_else(|| DataError::Invalid(format!("{}: no {role:?} file", self.name)))
        };
        // A file that does not parse is named with the error (the page and `riglab` say
        // which file on the server or the disk is bad).
        let named = |roles: &[FileRole], e: DataError| {
            let files: Vec<String> = roles
                .iter()
                .filter_map(|&r| split.file(r))
                .map(|f| f.path.clone())
                .collect();
            DataError::Invalid(format!("{} ({}): {e}", self.name, files.join(", ")))
        };
        let ds = match self.format {
            Format::Idx => parse_idx_images(
                get(FileRole::Images)?,
                get(FileRole::Labels)?,
                self.classes.len(),
            )
            .map_err(|e| named(&[FileRole::Images, FileRole::Labels], e))?,
            Format::Cifar => {
                parse_cifar(get(FileRole::Records)?).map_err(|e| named(&[FileRole::Records], e))?
            }
        };
        if ds.shape != self.shape || ds.len() != split.count {
            return Err(DataError::Invalid(format!(
                "{}: files hold {} images of {:?}, the manifest says {} of {:?}",
                self.name,
                ds.len(),
                ds.shape,
                split.count,
                self.shape
            )));
        }
        Ok(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_and_future_manifests() {
        assert!(
            Manifest::parse("{")
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
        let err = Manifest::parse(r#"{"version": 9, "sets": []}"#).unwrap_err();
        assert!(err.to_string().contains("version 9"));
        assert!(
            Manifest::parse(r#"{"version": 1, "sets": []}"#)
                .unwrap()
                .sets
                .is_empty()
        );
    }

    #[test]
    fn a_bad_file_is_named() {
        let entry = |role, path: &str| FileEntry {
            role,
            path: path.into(),
            bytes: 0,
            sha256: String::new(),
        };
        let split = SplitEntry {
            count: 1,
            files: vec![entry(FileRole::Records, "cifar10/test.bin.gz")],
        };
        let set = SetEntry {
            name: "cifar10".into(),
            title: "CIFAR-10".into(),
            source: String::new(),
            format: Format::Cifar,
            classes: vec!["a".into(); 10],
            shape: crate::data::CIFAR10_SHAPE,
            train: split.clone(),
            test: split.clone(),
        };
        let e = set
            .decode(&split, &[vec![0; 5000]])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cifar10/test.bin.gz") && e.contains("3073"),
            "{e}"
        );
        let split = SplitEntry {
            count: 1,
            files: vec![
                entry(FileRole::Images, "mnist/train-images.gz"),
                entry(FileRole::Labels, "mnist/train-labels.gz"),
            ],
        };
        let set = SetEntry {
            format: Format::Idx,
            shape: crate::data::ImageShape::new(1, 28, 28),
            ..set
        };
        let e = set
            .decode(&split, &[vec![1, 2, 3, 4, 5], vec![]])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mnist/train-images.gz, mnist/train-labels.gz") && e.contains("magic"),
            "{e}"
        );
    }
}
