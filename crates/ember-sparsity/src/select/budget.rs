//! Budgets: how many elements (or groups) each tensor loses, and which ones.
//!
//! [`choose`] takes the scores of every tensor a pruner selects, the pattern's groups, what is
//! already pruned and what is frozen, and each tensor's target; it returns the new pruned
//! flags. Layer-wise targets are met per unit exactly (`round(s·n)`); global targets by one
//! exact threshold over the union, optionally capped per unit. See `docs/architecture.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{prune_count, select_lowest};
use crate::pattern::Groups;

/// One tensor under selection.
#[derive(Debug)]
pub(crate) struct Candidate<'a> {
    /// The pattern's groups of this tensor.
    pub(crate) groups: Groups,
    /// The scorer's element scores (lowest pruned first).
    pub(crate) scores: Vec<f32>,
    /// Elements pruned already: they stay pruned and count towards the target.
    pub(crate) pruned: Cow<'a, [bool]>,
    /// Elements that may never be pruned (frozen).
    pub(crate) frozen: Cow<'a, [bool]>,
    /// The tensor's own target sparsity, when it is not part of the global pool.
    pub(crate) target: Option<f64>,
}

/// How [`choose`] distributes a pruner's target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// The target of the global pool (tensors without a target of their own).
    pub(crate) global: f64,
    /// The most any unit of the global pool may lose (`1.0`: no cap).
    pub(crate) cap: f64,
    /// `Some(m)` for N:M patterns: the group size that quotas apply to.
    pub(crate) quota: Option<usize>,
}

/// Folds the pruned and frozen flags into the scores: pruned → `-inf` (chosen first), frozen →
/// NaN (above everything: never chosen while anything else is left), and a scorer's NaN and
/// `-inf` → the lowest finite value, so the three stay apart. A NaN score is never taken as
/// important: a weight whose score is undefined (a diverged weight) goes before any other.
fn engine_score(score: f32, pruned: bool, frozen: bool) -> f32 {
    if frozen {
        f32::NAN
    } else if pruned {
        f32::NEG_INFINITY
    } else if score.is_nan() {
        f32::MIN
    } else {
        score.max(f32::MIN)
    }
}

fn count(flags: &[bool]) -> usize {
    flags.iter().filter(|&&f| f).count()
}

/// The new pruned flags of every candidate.
pub(crate) fn choose(candidates: Vec<Candidate<'_>>, budget: Budget) -> Vec<Vec<bool>> {
    if let Some(m) = budget.quota {
        return candidates
            .into_iter()
            .map(|c| {
                let target = c.target.unwrap_or(budget.global);
                choose_quota(c, m, target)
            })
            .collect();
    }
    if candidates.iter().all(|c| c.groups.of_element.is_none()) {
        choose_elements(candidates, budget)
    } else {
        choose_groups(candidates, budget)
    }
}

/// Unstructured: exact element counts, one radix select per layer-wise tensor and one over
/// the global pool.
fn choose_elements(candidates: Vec<Candidate<'_>>, budget: Budget) -> Vec<Vec<bool>> {
    let mut scores: Vec<Vec<f32>> = Vec::with_capacity(candidates.len());
    let mut result: Vec<Option<Vec<bool>>> = Vec::with_capacity(candidates.len());
    let mut pool: Vec<usize> = Vec::new();
    let (mut pool_numel, mut pool_frozen, mut pool_forced) = (0, 0, 0);
    for (index, c) in candidates.into_iter().enumerate() {
        let frozen = count(&c.frozen);
        let numel = c.scores.len();
        let forced = count(&c.pruned);
        let mut s = c.scores;
        for ((score, &pruned), &frozen) in s.iter_mut().zip(c.pruned.iter()).zip(c.frozen.iter()) {
            *score = engine_score(*score, pruned, frozen);
        }
        match c.target {
            Some(target) => {
                let k = prune_count(target, numel).max(forced).min(numel - frozen);
                result.push(Some(select_lowest(&[&s], k).remove(0)));
            }
            None => {
                // A cap keeps each tensor's candidates to its own lowest `cap·n`: in a
                // global ranking, what a tensor loses is always a prefix of its own order.
                let cap = ((budget.cap * numel as f64).floor() as usize).max(forced);
                let mut excluded = frozen;
                if cap < numel - frozen {
                    let allowed = select_lowest(&[&s], cap).remove(0);
                    for (score, allowed) in s.iter_mut().zip(allowed) {
                        if !allowed {
                            *score = f32::NAN;
                        }
                    }
                    excluded = numel - cap;
                }
                pool_numel += numel;
                pool_frozen += excluded;
                pool_forced += forced;
                pool.push(index);
                result.push(None);
            }
        }
        scores.push(s);
    }
    if !pool.is_empty() {
        let k = prune_count(budget.global, pool_numel)
            .max(pool_forced)
            .min(pool_numel - pool_frozen);
        let parts: Vec<&[f32]> = pool.iter().map(|&i| scores[i].as_slice()).collect();
        for (&index, flags) in pool.iter().zip(select_lowest(&parts, k)) {
            result[index] = Some(flags);
        }
    }
    result
        .into_iter()
        .map(|r| r.expect("every candidate is chosen for"))
        .collect()
}

/// Quotas (N:M, per output): every group of `n` elements loses its `round(target·n)` lowest
/// elements (ties by position); frozen elements are never among them. For N:M every group has
/// `m` elements.
fn choose_quota(c: Candidate<'_>, m: usize, target: f64) -> Vec<bool> {
    let groups = c.groups.of_element.expect("quota patterns have groups");
    let mut members: Vec<Vec<usize>> = vec![Vec::with_capacity(m); c.groups.count];
    for (element, &group) in groups.iter().enumerate() {
        members[group as usize].push(element);
    }
    let mut flags = c.pruned.to_vec();
    for group in members {
        let scores: Vec<f32> = group
            .iter()
            .map(|&e| engine_score(c.scores[e], c.pruned[e], c.frozen[e]))
            .collect();
        let frozen = group.iter().filter(|&&e| c.frozen[e]).count();
        let k = prune_count(target, group.len()).min(group.len() - frozen);
        for (&element, chosen) in group.iter().zip(select_lowest(&[&scores], k).remove(0)) {
            flags[element] = flags[element] || chosen;
        }
    }
    flags
}

/// One group, possibly spanning several tensors of one unit.
#[derive(Debug, Default, Clone)]
struct GroupStats {
    sum: f64,
    numel: usize,
    pruned: usize,
    frozen: bool,
}

impl GroupStats {
    /// The pooled score: the mean element score; fully pruned groups first, groups with a
    /// frozen element never.
    fn score(&self) -> f32 {
        if self.frozen {
            f32::NAN
        } else if self.pruned == self.numel {
            f32::NEG_INFINITY
        } else {
            let mean = (self.sum / self.numel as f64) as f32;
            if mean.is_nan() {
                f32::INFINITY
            } else {
                mean.max(f32::MIN)
            }
        }
    }
}

/// Ranked groups: blocks, neurons, channels, heads.
fn choose_groups(candidates: Vec<Candidate<'_>>, budget: Budget) -> Vec<Vec<bool>> {
    // Units in order of first appearance; each unit's groups pooled over its tensors.
    let mut units: Vec<(String, Option<f64>, Vec<GroupStats>)> = Vec::new();
    let mut unit_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut tensor_unit = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let unit = *unit_of.entry(c.groups.unit.clone()).or_insert_with(|| {
            units.push((c.groups.unit.clone(), c.target, Vec::new()));
            units.len() - 1
        });
        let stats = &mut units[unit].2;
        if stats.len() < c.groups.count {
            stats.resize(c.groups.count, GroupStats::default());
        }
        for element in 0..c.scores.len() {
            let group = c
                .groups
                .of_element
                .as_ref()
                .map_or(element, |g| g[element] as usize);
            let stat = &mut stats[group];
            stat.sum += f64::from(c.scores[element]);
            stat.numel += 1;
            stat.pruned += usize::from(c.pruned[element]);
            stat.frozen |= c.frozen[element];
        }
        tensor_unit.push(unit);
    }
    let mut chosen: Vec<Vec<bool>> = units.iter().map(|u| vec![false; u.2.len()]).collect();
    // Layer-wise units: round(s · groups) of the unit's own groups.
    let mut pool: Vec<(f32, usize, usize)> = Vec::new();
    let mut pool_numel = 0;
    for (u, (_, target, stats)) in units.iter().enumerate() {
        let scores: Vec<f32> = stats.iter().map(GroupStats::score).collect();
        match target {
            Some(target) => {
                let frozen = stats.iter().filter(|g| g.frozen).count();
                let forced = stats
                    .iter()
                    .filter(|g| !g.frozen && g.pruned == g.numel)
                    .count();
                let k = prune_count(*target, stats.len())
                    .max(forced)
                    .min(stats.len() - frozen);
                chosen[u] = select_lowest(&[&scores], k).remove(0);
            }
            None => {
                pool_numel += stats.iter().map(|g| g.numel).sum::<usize>();
                pool.extend(scores.iter().enumerate().map(|(g, &s)| (s, u, g)));
            }
        }
    }
    // The global pool: groups in (score, unit, index) order, taken while the elements removed
    // stay within round(s · n); a unit at its cap takes no more.
    pool.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let target = prune_count(budget.global, pool_numel);
    let mut removed = 0;
    let mut unit_removed = vec![0usize; units.len()];
    for (score, u, g) in pool {
        let stat = &units[u].2[g];
        if score.is_nan() {
            break;
        }
        let unit_numel: usize = units[u].2.iter().map(|g| g.numel).sum();
        let forced = score == f32::NEG_INFINITY;
        let cap = (budget.cap * unit_numel as f64).floor() as usize;
        if !forced && unit_removed[u] + stat.numel > cap {
            continue;
        }
        if !forced && removed + stat.numel > target {
            break;
        }
        removed += stat.numel;
        unit_removed[u] += stat.numel;
        chosen[u][g] = true;
    }
    candidates
        .iter()
        .zip(tensor_unit)
        .map(|(c, u)| {
            (0..c.scores.len())
                .map(|e| {
                    let group = c.groups.of_element.as_ref().map_or(e, |g| g[e] as usize);
                    c.pruned[e] || chosen[u][group]
                })
                .collect()
        })
        .collect()
}

/// Per-tensor sparsities of the Erdős–Rényi–Kernel distribution (Evci et al. 2020) for an
/// overall sparsity: a tensor's density is proportional to `Σ dims / Π dims`, scaled so the
/// kept elements add up to `(1 - s)·N`; tensors that would exceed density 1 stay dense and
/// the rest is rescaled.
pub fn erk_sparsities(shapes: &[Vec<usize>], sparsity: f64) -> Vec<f64> {
    let numel: Vec<f64> = shapes
        .iter()
        .map(|s| s.iter().product::<usize>() as f64)
        .collect();
    let raw: Vec<f64> = shapes
        .iter()
        .zip(&numel)
        .map(|(s, n)| s.iter().sum::<usize>() as f64 / n)
        .collect();
    let keep_total = (1.0 - sparsity) * numel.iter().sum::<f64>();
    let mut dense = vec![false; shapes.len()];
    loop {
        let dense_numel: f64 = (0..shapes.len())
            .filter(|&i| dense[i])
            .map(|i| numel[i])
            .sum();
        let weighted: f64 = (0..shapes.len())
            .filter(|&i| !dense[i])
            .map(|i| raw[i] * numel[i])
            .sum();
        let epsilon = if weighted > 0.0 {
            (keep_total - dense_numel) / weighted
        } else {
            0.0
        };
        let over = (0..shapes.len())
            .filter(|&i| !dense[i] && epsilon * raw[i] > 1.0)
            .max_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        match over {
            Some(i) => dense[i] = true,
            None => {
                return (0..shapes.len())
                    .map(|i| {
                        if dense[i] {
                            0.0
                        } else {
                            (1.0 - epsilon * raw[i]).clamp(0.0, 1.0)
                        }
                    })
                    .collect();
            }
        }
    }
}

#[cfg(test)]
mod tests;
