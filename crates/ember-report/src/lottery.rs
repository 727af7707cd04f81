//! A lottery-ticket experiment's `lottery.json`, `lottery.csv` and `lottery.md`: the test
//! accuracy of every round of iterative magnitude pruning, the rewound ticket beside its
//! re-initialised control.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ReportError, write_recorded};

/// Where a round's training starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewind {
    /// The survivors' initial values (a winning ticket).
    Init,
    /// The previous round's trained weights, with the learning rate rewound.
    LearningRate,
    /// The dense network's weights after this many epochs (late rewinding). They come from a
    /// run of that many epochs with the round's recipe and seed: with a constant learning rate
    /// that is exactly the start of round 0. Later rounds train the remaining epochs, their
    /// data order starting again from the first epoch's.
    Epoch(usize),
}

/// One round of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotteryRound {
    /// `ticket` or `reinit`.
    pub arm: String,
    /// The round, 0 being dense.
    pub round: usize,
    /// The fraction of the selected weights that remain.
    pub remaining: f64,
    /// Test accuracy (percent).
    pub accuracy: f64,
    /// The run directory, relative to the experiment's.
    pub dir: String,
}

/// `lottery.json`: every round of every arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotterySummary {
    /// How rounds started.
    pub rewind: Rewind,
    /// The fraction pruned per round.
    pub rate: f64,
    /// Every round, ticket arm first.
    pub rounds: Vec<LotteryRound>,
}

impl LotterySummary {
    /// The rounds as CSV: arm, round, remaining fraction, accuracy.
    pub fn to_csv(&self) -> String {
        let mut text = String::from("arm,round,remaining,accuracy\n");
        for r in &self.rounds {
            text += &format!(
                "{},{},{:.6},{:.2}\n",
                r.arm, r.round, r.remaining, r.accuracy
            );
        }
        text
    }

    /// The rounds as a Markdown table, the ticket and the control side by side.
    pub fn to_markdown(&self) -> String {
        let control: BTreeMap<usize, f64> = self
            .rounds
            .iter()
            .filter(|r| r.arm == "reinit")
            .map(|r| (r.round, r.accuracy))
            .collect();
        let mut text = String::from(
            "| round | weights remaining | ticket accuracy (%) | re-initialised (%) |\n\
             | ---: | ---: | ---: | ---: |\n",
        );
        for r in self.rounds.iter().filter(|r| r.arm == "ticket") {
            let other = control
                .get(&r.round)
                .map_or("n/a".to_string(), |a| format!("{a:.2}"));
            text += &format!(
                "| {} | {:.1}% | {:.2} | {other} |\n",
                r.round,
                100.0 * r.remaining,
                r.accuracy
            );
        }
        text
    }

    /// Writes `lottery.json`, `lottery.csv` and `lottery.md` into `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(self).expect("a summary always serialises");
        write_recorded(&dir.join("lottery.json"), json.as_bytes())?;
        write_recorded(&dir.join("lottery.csv"), self.to_csv().as_bytes())?;
        write_recorded(&dir.join("lottery.md"), self.to_markdown().as_bytes())
    }
}
