//! The health check: the configured command, run every interval.

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::config::HealthSettings;
use crate::duration::to_std;
use crate::hooks::{run_command, Outcome};

/// Runs the check every `interval` (the first at once) and sends each result
/// (true: exit status 0 within the timeout). Ends when the receiver is gone.
pub async fn watch(settings: HealthSettings, results: mpsc::Sender<bool>) {
    let mut tick = tokio::time::interval(to_std(settings.interval));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = run_command(&settings.command, &[], to_std(settings.timeout)).await;
        match &outcome {
            Outcome::Exited(_) => {}
            Outcome::SpawnFailed(e) => tracing::warn!(error = %e, "health check could not be run"),
            Outcome::TimedOut => {
                tracing::warn!(timeout = %settings.timeout, "health check timed out")
            }
        }
        if results.send(outcome.success()).await.is_err() {
            return;
        }
    }
}
