//! CPU by spawn site: which spawn location the task each worker is polling
//! came from, counted once per watchdog period.
//!
//! A worker inside a poll at a sample is a worker spending CPU on that
//! task (or blocking in it; a poll that blocks the thread also shows, as in
//! a wall-clock profiler). Over many periods the counts per site are
//! proportional to the time workers spent polling that site's tasks, the
//! way pprof's samples are proportional to CPU time. A task that waits is
//! never inside a poll, so it is never counted.
//!
//! # The exported top K
//!
//! Exporters name at most K sites; every other sample is exported as
//! `location="other"`. Each series must stay monotonic while the ranking
//! changes, so each sample is attributed once, when it is taken: to its
//! site's exported count if the site is in the top K then, else to `other`.
//! A site enters the top K at its first sample while there is room; once it
//! is full, after each pass, a sampled site outside it enters if it has more
//! samples in all than the top site with the fewest, which leaves (ties keep the incumbent, so the set does not flap).
//! A site that leaves keeps its exported count and stops being exported; if
//! it comes back, its series resumes from that count.

use std::collections::HashMap;
// `hash_map::DefaultHasher`: `std::hash::DefaultHasher` is Rust 1.76, and the
// probes build with 1.71 (Tokio 1.53.x's MSRV).
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::panic::Location;

use crate::delta::Delta;

/// Where tasks were spawned: a `file:line:col`, or `None` when unknown.
pub(crate) type Site = Option<&'static Location<'static>>;

/// The samples of one spawn site.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
/// // Nothing sampled yet: no sites, no samples.
/// assert!(rt.snapshot().sampled.spawn_sites.sites.is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnSiteSamples {
    /// Where the sampled tasks were spawned (`None`: unknown).
    pub location: Option<&'static Location<'static>>,
    /// Samples that found a worker polling a task spawned here.
    pub samples: u64,
    /// The part of `samples` taken while the site was among the top K that
    /// exporters name: the value of
    /// `tokio_pulse_poll_samples_total{location}`.
    pub exported: u64,
    /// Whether the site is among the top K now.
    pub top: bool,
}

/// Every spawn site the sampler has seen, and what exporters publish.
///
/// # Examples
///
/// ```
/// let table = tokio_pulse_probes::SpawnSiteTable::default();
/// assert_eq!(table.samples(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpawnSiteTable {
    /// Every site sampled so far, most samples first (then by location).
    pub sites: Vec<SpawnSiteSamples>,
    /// Samples taken while their site was not among the top K: the value of
    /// `tokio_pulse_poll_samples_total{location="other"}`.
    pub other: u64,
}

impl SpawnSiteTable {
    /// All samples, every site.
    ///
    /// # Examples
    ///
    /// See [`SpawnSiteTable`].
    pub fn samples(&self) -> u64 {
        self.sites.iter().map(|site| site.samples).sum()
    }

    /// The samples of the site at `file:line` (any column), if it has any.
    ///
    /// # Examples
    ///
    /// ```
    /// let table = tokio_pulse_probes::SpawnSiteTable::default();
    /// assert_eq!(table.samples_at("src/main.rs", 10), 0);
    /// ```
    pub fn samples_at(&self, file: &str, line: u32) -> u64 {
        self.sites
            .iter()
            .filter(|site| {
                site.location
                    .is_some_and(|at| at.file() == file && at.line() == line)
            })
            .map(|site| site.samples)
            .sum()
    }

    fn sort(&mut self) {
        self.sites.sort_by(|a, b| {
            b.samples.cmp(&a.samples).then_with(|| {
                let key =
                    |s: &SpawnSiteSamples| s.location.map(|l| (l.file(), l.line(), l.column()));
                key(a).cmp(&key(b))
            })
        });
    }
}

/// Site by site, matched by location; a site `earlier` lacks is kept whole.
impl Delta for SpawnSiteTable {
    fn since(&self, earlier: &SpawnSiteTable) -> SpawnSiteTable {
        let mut table = SpawnSiteTable {
            sites: self
                .sites
                .iter()
                .map(|now| {
                    match earlier
                        .sites
                        .iter()
                        .find(|then| then.location == now.location)
                    {
                        Some(then) => SpawnSiteSamples {
                            samples: now.samples.since(&then.samples),
                            exported: now.exported.since(&then.exported),
                            ..*now
                        },
                        None => *now,
                    }
                })
                .collect(),
            other: self.other.since(&earlier.other),
        };
        table.sort();
        table
    }
}

#[derive(Debug, Default)]
struct Entry {
    samples: u64,
    exported: u64,
    top: bool,
}

/// The live table, written only by the sampler.
#[derive(Debug)]
pub(crate) struct SpawnSites {
    k: usize,
    /// Keyed without random state: spawn sites are the program's own, not
    /// input, and a target without a source of randomness (wasm32) must
    /// build a runtime all the same.
    by_site: HashMap<Site, Entry, BuildHasherDefault<DefaultHasher>>,
    /// The top K, in no order.
    top: Vec<Site>,
    other: u64,
    /// Sites sampled in the current pass that were outside the top K.
    challengers: Vec<Site>,
}

impl SpawnSites {
    pub(crate) fn new(k: usize) -> SpawnSites {
        SpawnSites {
            k,
            by_site: HashMap::default(),
            top: Vec::new(),
            other: 0,
            challengers: Vec::new(),
        }
    }

    /// Counts one sample of a worker polling a task spawned at `site`.
    pub(crate) fn record(&mut self, site: Site) {
        let entry = self.by_site.entry(site).or_default();
        entry.samples += 1;
        if !entry.top && self.top.len() < self.k {
            // Room in the top K: in at once, this sample included.
            entry.top = true;
            self.top.push(site);
        }
        if entry.top {
            entry.exported += 1;
        } else {
            self.other += 1;
            if !self.challengers.contains(&site) {
                self.challengers.push(site);
            }
        }
    }

    /// Ends a pass: the sites sampled outside the top K may enter it.
    pub(crate) fn rerank(&mut self) {
        for site in std::mem::take(&mut self.challengers) {
            let samples = self.by_site[&site].samples;
            if self.top.len() < self.k {
                self.top.push(site);
            } else {
                let Some((slot, weakest)) = self
                    .top
                    .iter()
                    .enumerate()
                    .map(|(slot, site)| (slot, self.by_site[site].samples))
                    .min_by_key(|&(_, samples)| samples)
                else {
                    continue; // k == 0
                };
                if samples <= weakest {
                    continue;
                }
                let out = std::mem::replace(&mut self.top[slot], site);
                if let Some(entry) = self.by_site.get_mut(&out) {
                    entry.top = false;
                }
            }
            if let Some(entry) = self.by_site.get_mut(&site) {
                entry.top = true;
            }
        }
    }

    pub(crate) fn table(&self) -> SpawnSiteTable {
        let mut table = SpawnSiteTable {
            sites: self
                .by_site
                .iter()
                .map(|(&location, entry)| SpawnSiteSamples {
                    location,
                    samples: entry.samples,
                    exported: entry.exported,
                    top: entry.top,
                })
                .collect(),
            other: self.other,
        };
        table.sort();
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> Site {
        Some(Location::caller())
    }

    #[test]
    fn the_top_k_changes_without_any_series_going_down() {
        let (a, b, c) = (here(), here(), here());
        let mut sites = SpawnSites::new(1);
        sites.record(a); // room: a is in at once
        sites.rerank();
        sites.record(a);
        sites.record(b);
        sites.record(b);
        sites.rerank(); // b has 2, a has 2: a stays
        let table = sites.table();
        assert_eq!(table.other, 2);
        let of = |t: &SpawnSiteTable, s: Site| *t.sites.iter().find(|x| x.location == s).unwrap();
        assert_eq!((of(&table, a).exported, of(&table, a).top), (2, true));
        sites.record(b);
        sites.rerank(); // b has 3 > 2: b replaces a
        sites.record(b);
        sites.record(c);
        sites.rerank();
        let later = sites.table();
        assert!(of(&later, b).top && !of(&later, a).top);
        assert_eq!(of(&later, a).exported, 2, "a's series keeps its value");
        assert_eq!(of(&later, b).exported, 1);
        assert_eq!(later.other, 4);
        assert_eq!(later.samples(), 7);
        let exported: u64 = later.sites.iter().map(|s| s.exported).sum();
        assert_eq!(exported + later.other, later.samples());
        // Deltas match sites by location.
        let change = later.since(&table);
        assert_eq!(change.samples(), 3);
        assert_eq!(change.other, 2);
        assert_eq!(later.sites[0].location, b, "most samples first");
    }

    #[test]
    fn zero_k_exports_only_other() {
        let mut sites = SpawnSites::new(0);
        sites.record(here());
        sites.rerank();
        sites.record(None);
        sites.rerank();
        let table = sites.table();
        assert_eq!((table.other, table.samples()), (2, 2));
        assert!(table.sites.iter().all(|s| !s.top && s.exported == 0));
    }
}
