//! The change between two snapshots, derived one way for every snapshot
//! struct: each field names its rule, and the struct literal the macro
//! builds makes the compiler insist that a new field gets one.
//!
//! - `since`: a monotonic count (or a collection of them), saturating, so
//!   that mismatched inputs give zeros rather than a panic;
//! - `later`: a gauge or an identity, which keeps the later value.

use std::time::Duration;

/// The change from `earlier` to `self`.
pub(crate) trait Delta {
    fn since(&self, earlier: &Self) -> Self;
}

impl Delta for u64 {
    #[inline]
    fn since(&self, earlier: &u64) -> u64 {
        self.saturating_sub(*earlier)
    }
}

impl Delta for Duration {
    fn since(&self, earlier: &Duration) -> Duration {
        self.saturating_sub(*earlier)
    }
}

impl<const N: usize> Delta for [u64; N] {
    fn since(&self, earlier: &[u64; N]) -> [u64; N] {
        std::array::from_fn(|k| self[k].since(&earlier[k]))
    }
}

/// Element by element, by position; an element `earlier` lacks is kept
/// whole.
impl<T: Delta + Clone> Delta for Vec<T> {
    fn since(&self, earlier: &Vec<T>) -> Vec<T> {
        self.iter()
            .enumerate()
            .map(|(k, now)| match earlier.get(k) {
                Some(then) => now.since(then),
                None => now.clone(),
            })
            .collect()
    }
}

/// A part present in both is a delta; otherwise the later one is kept.
impl<T: Delta + Clone> Delta for Option<T> {
    fn since(&self, earlier: &Option<T>) -> Option<T> {
        match (self, earlier) {
            (Some(now), Some(then)) => Some(now.since(then)),
            (now, _) => now.clone(),
        }
    }
}

/// Implements [`Delta`] for a struct, one rule (`since` or `later`) per
/// field.
macro_rules! delta_by_field {
    ($ty:ident { $($field:ident: $rule:ident),* $(,)? }) => {
        impl $crate::delta::Delta for $ty {
            fn since(&self, earlier: &Self) -> Self {
                $ty { $($field: delta_by_field!(@$rule self.$field, earlier.$field)),* }
            }
        }
    };
    (@since $now:expr, $then:expr) => {
        $crate::delta::Delta::since(&$now, &$then)
    };
    (@later $now:expr, $then:expr) => {
        $now.clone()
    };
}
pub(crate) use delta_by_field;

#[cfg(test)]
mod tests {
    use super::Delta;

    #[test]
    fn counts_saturate_and_extra_elements_are_kept() {
        assert_eq!(3u64.since(&5), 0);
        assert_eq!(vec![5u64, 7].since(&vec![2]), vec![3, 7]);
        assert_eq!(Some(4u64).since(&None), Some(4));
        assert_eq!(None::<u64>.since(&Some(4)), None);
        assert_eq!([3u64, 9].since(&[1, 10]), [2, 0]);
    }
}
