//! The applied record, `vendor/.pulse-applied`: what xtask last left in
//! `vendor/tokio` ([`Record`]), and comparing it with `patches/` and the
//! export of `vendor/tokio`, so that xtask can tell "patches/ moved on" (safe
//! to rebuild) from "vendor/tokio holds new commits" (must not be lost).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::patchset::PatchSet;

/// What xtask last left in `vendor/tokio`, stored in `vendor/.pulse-applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Whether every patch applied (`false`: `git am` stopped at one).
    pub complete: bool,
    /// Digest of `patches/` at that time.
    pub patches: String,
    /// Digest of the export of `vendor/tokio` at that time.
    pub vendor: String,
}

impl Record {
    /// Reads the record; `None` if it is missing or unreadable (nothing is
    /// then known, and xtask errs on the side of refusing).
    pub fn read(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let mut fields = (None, None, None);
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("state", v)) => fields.0 = Some(v == "complete"),
                Some(("patches", v)) => fields.1 = Some(v.to_owned()),
                Some(("vendor", v)) => fields.2 = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(Self {
            complete: fields.0?,
            patches: fields.1?,
            vendor: fields.2?,
        })
    }

    /// The record of a `vendor/tokio` built from the series `patches`
    /// (`complete`: every patch applied) whose export is `vendor`.
    pub fn new(complete: bool, patches: &PatchSet, vendor: &PatchSet) -> Self {
        Self {
            complete,
            patches: patches.digest(),
            vendor: vendor.digest(),
        }
    }

    /// Whether xtask built the `vendor/tokio` whose export is `exported`:
    /// then it holds no commits of its own.
    pub fn built(&self, exported: &PatchSet) -> bool {
        self.vendor == exported.digest()
    }

    /// Whether neither side changed since xtask built `vendor/tokio` from
    /// every patch: its export is still `exported` and `patches/` still
    /// `current` (they may differ only in form).
    pub fn untouched(&self, current: &PatchSet, exported: &PatchSet) -> bool {
        self.complete && self.built(exported) && self.patches == current.digest()
    }

    /// Whether `patches/` (now `current`) changed since the record.
    pub fn patches_moved_on(&self, current: &PatchSet) -> bool {
        current.digest() != self.patches
    }

    /// Removes the record at `path` (nothing is known while `vendor/tokio`
    /// is rebuilt), creating its directory if needed.
    pub fn clear(path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes the record to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let state = if self.complete { "complete" } else { "failed" };
        let text = format!(
            "# What `cargo xtask` last left in vendor/tokio (sha256 of patch sets).\n\
             state {state}\npatches {}\nvendor {}\n",
            self.patches, self.vendor
        );
        fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}
