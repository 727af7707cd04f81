//! Sweeps: one or more recipes (the methods) over a grid of recipe keys and several seeds,
//! one run directory per cell and seed, summarised as mean ± standard deviation per cell.
//!
//! Every cell's recipe is loaded and validated before the first run starts, so a bad key or
//! value fails the sweep with nothing written. A grid key that leaves the recipe unchanged is
//! an error too: a sweep that silently runs the same recipe five times would look like a
//! flat curve. Finished cells (a `report.json` beside the same `recipe.toml`) are skipped,
//! so a killed sweep resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use ember_report::sweep::{CellSummary, SweepRow, SweepSummary, mean_std};
use serde::{Deserialize, Serialize};

use crate::{Recipe, RunReport, TrainError};

/// One axis of a grid: a recipe key (as `--set` writes it) and the values it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridAxis {
    /// The recipe key, e.g. `modifiers[0].schedule.final_sparsity`, or alternatives
    /// `a|b`: each recipe takes the first it accepts.
    pub key: String,
    /// Its values, as TOML literals.
    pub values: Vec<String>,
}

impl FromStr for GridAxis {
    type Err = TrainError;

    /// Parses `key=v1,v2,...`.
    fn from_str(text: &str) -> Result<Self, TrainError> {
        let invalid = |message: &str| TrainError::Grid {
            axis: text.to_string(),
            message: message.to_string(),
        };
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| invalid("must have the form key=value1,value2,..."))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid("names no key"));
        }
        let values: Vec<String> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect();
        if values.is_empty() {
            return Err(invalid("lists no values"));
        }
        for (i, value) in values.iter().enumerate() {
            if values[..i].contains(value) {
                return Err(invalid(&format!("lists `{value}` twice")));
            }
        }
        Ok(Self {
            key: key.to_string(),
            values,
        })
    }
}

/// The most seeds per cell a sweep accepts: far above any study, and a guard against a
/// mistyped count that would queue runs for years.
pub const MAX_SEEDS: usize = 1000;

/// A sweep: methods (recipe files) × the grid's cells × seeds.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The recipes, one per method; a method is named by its recipe's `name`.
    pub recipes: Vec<PathBuf>,
    /// The grid: every combination of the axes' values is a cell.
    pub axes: Vec<GridAxis>,
    /// Seeds per cell: the recipe's seed, its seed + 1, ...
    pub seeds: usize,
    /// Overrides applied to every run before the grid's.
    pub overrides: Vec<String>,
    /// The names the runs may use (checked before the first run): model families, modifier
    /// kinds, scorers, patterns.
    pub registries: crate::Registries,
}

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// The method (its recipe's name).
    pub method: String,
    /// The grid's values for this cell, in axis order.
    pub settings: Vec<(String, String)>,
    /// The run's seed.
    pub seed: u64,
    /// The recipe with every override applied.
    pub recipe: Recipe,
    /// The run directory.
    pub dir: PathBuf,
}

/// A directory name for one setting: the key's last segment, or the whole key with unsafe
/// characters replaced when two axes share a last segment.
fn dir_part(key: &str, value: &str, full: bool) -> String {
    // Of alternatives `a|b`, the first names the directory.
    let key = key.split('|').next().unwrap_or(key).trim();
    let key = if full {
        key
    } else {
        key.rsplit('.').next().unwrap_or(key)
    };
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}={}", safe(key), safe(value))
}

impl Sweep {
    /// Every run of the sweep, each recipe loaded and validated. Fails on the first recipe,
    /// key or value that does not load, and on a grid key that changes nothing.
    pub fn runs(&self, out: &Path) -> Result<Vec<SweepRun>, TrainError> {
        if self.recipes.is_empty() {
            return Err(TrainError::Grid {
                axis: String::new(),
                message: "a sweep needs at least one recipe".into(),
            });
        }
        if self.seeds == 0 {
            return Err(TrainError::Grid {
                axis: "--seeds 0".into(),
                message: "a sweep needs at least one seed".into(),
            });
        }
        if self.seeds > MAX_SEEDS {
            return Err(TrainError::Grid {
                axis: format!("--seeds {}", self.seeds),
                message: format!("a sweep runs at most {MAX_SEEDS} seeds per cell"),
            });
        }
        if self.seeds > 1 && self.axes.iter().any(|a| a.key == "seed") {
            return Err(TrainError::Grid {
                axis: "seed".into(),
                message: "give seeds with --seeds or as a grid axis, not both".into(),
            });
        }
        for (i, axis) in self.axes.iter().enumerate() {
            if self.axes[..i].iter().any(|a| a.key == axis.key) {
                return Err(TrainError::Grid {
                    axis: axis.key.clone(),
                    message: "appears twice in the grid".into(),
                });
            }
        }
        let last = |key: &str| {
            let first = key.split('|').next().unwrap_or(key).trim();
            first.rsplit('.').next().unwrap_or(first).to_string()
        };
        let full_names = self
            .axes
            .iter()
            .enumerate()
            .any(|(i, a)| self.axes[..i].iter().any(|b| last(&b.key) == last(&a.key)));
        let mut runs = Vec::new();
        let mut methods = BTreeMap::new();
        // What `ember check` binds each cell with: this sweep's scorers and patterns.
        let check = crate::RunOptions::new(
            "",
            burn::tensor::Device::flex(),
            "flex",
            self.registries.clone(),
        );
        for path in &self.recipes {
            // Only the name and the seed: the grid may still fix out-of-range values.
            let base = Recipe::load_unvalidated(path, &self.overrides)?;
            let method = if base.name.is_empty() {
                path.file_stem()
                    .map_or("recipe".into(), |s| s.to_string_lossy().into_owned())
            } else {
                base.name.clone()
            };
            if let Some(other) = methods.insert(method.clone(), path.clone()) {
                return Err(TrainError::Grid {
                    axis: String::new(),
                    message: format!(
                        "recipes {} and {} are both named `{method}`: give each method its own \
                         `name`",
                        other.display(),
                        path.display()
                    ),
                });
            }
            let keys = self
                .axes
                .iter()
                .map(|axis| self.key_for(path, axis))
                .collect::<Result<Vec<_>, _>>()?;
            let mut seen: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
            for settings in cells(&self.axes) {
                for offset in 0..self.seeds as u64 {
                    let seed = base.seed + offset;
                    let mut overrides = self.overrides.clone();
                    overrides.extend(
                        settings
                            .iter()
                            .zip(&keys)
                            .map(|((_, v), key)| format!("{key}={v}")),
                    );
                    if self.seeds > 1 {
                        overrides.push(format!("seed={seed}"));
                    }
                    let recipe = Recipe::load(path, &overrides)?;
                    // Everything `ember check` refuses (unknown scorers and patterns, N:M
                    // widths, selectors that match nothing) fails now, for every cell, not
                    // after the runs before it have trained.
                    let recipe = crate::check_recipe(recipe, &check).into_result()?;
                    let toml = recipe.to_toml();
                    if let Some(same) = seen.get(&toml) {
                        let axis = settings
                            .iter()
                            .zip(same)
                            .find(|(a, b)| a != b)
                            .map_or(String::new(), |((k, _), _)| k.clone());
                        return Err(TrainError::Grid {
                            axis,
                            message: format!(
                                "changes nothing in {}: {} and {} give the same recipe",
                                path.display(),
                                describe(&settings),
                                describe(same)
                            ),
                        });
                    }
                    seen.insert(toml, settings.clone());
                    let mut dir = out.join(&method);
                    for (k, v) in &settings {
                        dir = dir.join(dir_part(k, v, full_names));
                    }
                    let dir = dir.join(format!("seed-{}", recipe.seed));
                    runs.push(SweepRun {
                        method: method.clone(),
                        settings: settings.clone(),
                        seed: recipe.seed,
                        recipe,
                        dir,
                    });
                }
            }
        }
        Ok(runs)
    }

    /// The key `axis` sets in the recipe at `path`: the axis's key, or for `a|b|...` the first
    /// alternative the recipe accepts (so that one axis can set `schedule.final_sparsity` in a
    /// pruner's recipe and `sparsity` in RigL's).
    fn key_for(&self, path: &Path, axis: &GridAxis) -> Result<String, TrainError> {
        let alternatives: Vec<&str> = axis.key.split('|').map(str::trim).collect();
        if alternatives.len() == 1 {
            return Ok(axis.key.clone());
        }
        let mut first_error = None;
        for key in &alternatives {
            let mut overrides = self.overrides.clone();
            overrides.push(format!("{key}={}", axis.values[0]));
            match Recipe::load_unvalidated(path, &overrides) {
                Ok(_) => return Ok((*key).to_string()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(TrainError::Grid {
            axis: axis.key.clone(),
            message: format!(
                "{} accepts none of its keys; with the first: {}",
                path.display(),
                first_error.map_or(String::new(), |e| e.to_string())
            ),
        })
    }

    /// Runs every run that has not finished (through `run`, which gets the recipe and the
    /// run directory), then writes `summary.json`, `summary.csv` and `summary.md` into `out`.
    /// `progress` hears of each run before it starts (`true` when it is skipped as done).
    pub fn run(
        &self,
        out: &Path,
        mut run: impl FnMut(&SweepRun) -> Result<RunReport, TrainError>,
        mut progress: impl FnMut(usize, usize, &SweepRun, bool),
    ) -> Result<SweepSummary, TrainError> {
        let runs = self.runs(out)?;
        let mut rows = Vec::with_capacity(runs.len());
        for (index, sweep_run) in runs.iter().enumerate() {
            let report = match finished_run(&sweep_run.dir, &sweep_run.recipe)? {
                Some(report) => {
                    progress(index, runs.len(), sweep_run, true);
                    report
                }
                None => {
                    progress(index, runs.len(), sweep_run, false);
                    run(sweep_run)?
                }
            };
            rows.push(SweepRow {
                method: sweep_run.method.clone(),
                settings: sweep_run.settings.clone(),
                seed: sweep_run.seed,
                dense_accuracy: report.dense.as_ref().map(|d| d.accuracy),
                accuracy: report.final_.accuracy,
                sparsity: report.sparsity.ratio,
                metrics: report.final_.metrics.clone(),
                dir: sweep_run
                    .dir
                    .strip_prefix(out)
                    .unwrap_or(&sweep_run.dir)
                    .display()
                    .to_string(),
            });
        }
        let summary = SweepSummary::new(self.axes.iter().map(|a| a.key.clone()).collect(), rows);
        summary.write(out)?;
        Ok(summary)
    }
}

/// Every combination of the axes' values, the first axis slowest.
fn cells(axes: &[GridAxis]) -> Vec<Vec<(String, String)>> {
    let mut cells = vec![Vec::new()];
    for axis in axes {
        cells = cells
            .into_iter()
            .flat_map(|cell| {
                axis.values.iter().map(move |value| {
                    let mut cell = cell.clone();
                    cell.push((axis.key.clone(), value.clone()));
                    cell
                })
            })
            .collect();
    }
    cells
}

fn describe(settings: &[(String, String)]) -> String {
    if settings.is_empty() {
        return "two seeds".into();
    }
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The report of a finished run of `recipe` in `dir`, `None` when none has finished there, and
/// an error when the directory holds a run of another recipe.
pub(crate) fn finished_run(dir: &Path, recipe: &Recipe) -> Result<Option<RunReport>, TrainError> {
    let report_path = dir.join("report.json");
    if !report_path.is_file() {
        return Ok(None);
    }
    // Both read through the run's SHA256SUMS: a damaged finished run is an error, not a
    // result to summarise.
    let recipe_path = dir.join("recipe.toml");
    let same = crate::read_recorded(&recipe_path)? == recipe.to_toml();
    if !same {
        return Err(TrainError::Grid {
            axis: String::new(),
            message: format!(
                "{} holds a run of another recipe; remove it or write into another directory",
                dir.display()
            ),
        });
    }
    Ok(Some(RunReport::read(&report_path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_and_refuse_what_is_not_a_grid() {
        let axis: GridAxis = "modifiers[0].schedule.final_sparsity=0.5, 0.9"
            .parse()
            .unwrap();
        assert_eq!(axis.key, "modifiers[0].schedule.final_sparsity");
        assert_eq!(axis.values, ["0.5", "0.9"]);
        for bad in ["no-equals", "=0.5", "key=", "key= , ", "key=1,1"] {
            let err = bad.parse::<GridAxis>().unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }

    #[test]
    fn the_grid_is_the_cartesian_product_first_axis_slowest() {
        let axes = vec![
            "a=1,2".parse::<GridAxis>().unwrap(),
            "b=x,y,z".parse().unwrap(),
        ];
        let cells = cells(&axes);
        assert_eq!(cells.len(), 6);
        assert_eq!(
            cells[1],
            [("a".into(), "1".into()), ("b".into(), "y".into())]
        );
        assert_eq!(cells[3][0].1, "2");
    }
}
