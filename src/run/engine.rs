//! The one phase runner. An action is an ordered list of phases (`crate::plan::phases`,
//! the list `plan` shows too); the runner walks it in order, stops at the first phase that
//! fails (its errors name node, step, reason and fix), times every phase (the progress
//! lines, [`super::phase_clock`]), records what each phase walked through, and finishes
//! the report. What a phase does is the action's [`Phases::run`].

use super::fleet::StepError;
use super::phase_clock::PhaseClock;
use super::report::Report;
pub use super::report::Walked;
use crate::plan::Step;
use crate::plan::phases::{ActionSpec, PhaseSpec};
use std::time::Instant;

/// A phase that failed: the name the report gives it and the errors, one per node.
#[derive(Debug)]
pub struct Failure {
    pub phase: String,
    pub errors: Vec<StepError>,
}

impl Failure {
    pub fn new(phase: &str, errors: Vec<StepError>) -> Failure {
        Failure {
            phase: phase.into(),
            errors,
        }
    }

    pub fn one(phase: &str, error: StepError) -> Failure {
        Failure::new(phase, vec![error])
    }
}

/// The error of a phase id an action's runner has no method for: a defect of k8s-manage
/// (its list names a phase the runner does not know), never the user's.
pub fn no_runner(action: &str, phase: &str) -> StepError {
    StepError::new("control host", phase, "no runner for this phase").hint(format!(
        "a defect of k8s-manage: the phase list names a phase {action} cannot run"
    ))
}

impl From<(String, Vec<StepError>)> for Failure {
    fn from((phase, errors): (String, Vec<StepError>)) -> Failure {
        Failure { phase, errors }
    }
}

/// What the runner records while it walks an action's phases: deploy's [`Report`], or
/// an [`ActionLog`] beside an action's own report.
pub trait PhaseLog {
    /// The phases walked so far, the current one last.
    fn walked(&mut self) -> &mut Vec<Walked>;
    /// The run stopped at this failure.
    fn failed(&mut self, failure: Failure);
    /// Every phase passed, after this many seconds.
    fn passed(&mut self, seconds: f64);
    /// The wall time of each phase, whether the run passed or not.
    fn timed(&mut self, times: Vec<super::phase_clock::PhaseTime>);
}

impl PhaseLog for Report {
    fn walked(&mut self) -> &mut Vec<Walked> {
        &mut self.walked
    }
    fn failed(&mut self, f: Failure) {
        self.ok = false;
        self.failed_phase = Some(f.phase);
        self.errors = f.errors;
    }
    fn passed(&mut self, seconds: f64) {
        self.seconds = seconds;
    }
    fn timed(&mut self, times: Vec<super::phase_clock::PhaseTime>) {
        self.phases = times;
    }
}

/// The log of an action whose report has no place for phases (`etcdfix`, `clean`): what
/// each phase walked, the failure that stopped it, and the time per phase.
#[derive(Debug, Default)]
pub struct ActionLog {
    pub walked: Vec<Walked>,
    pub failure: Option<Failure>,
    pub times: Vec<super::phase_clock::PhaseTime>,
    pub seconds: f64,
}

impl PhaseLog for ActionLog {
    fn walked(&mut self) -> &mut Vec<Walked> {
        &mut self.walked
    }
    fn failed(&mut self, f: Failure) {
        self.failure = Some(f);
    }
    fn passed(&mut self, seconds: f64) {
        self.seconds = seconds;
    }
    fn timed(&mut self, times: Vec<super::phase_clock::PhaseTime>) {
        self.times = times;
    }
}

/// An action's phases, as one run carries them out. (Used within the crate only: the
/// futures need no `Send` bound, so `async fn` is fine here.)
#[allow(async_fn_in_trait)]
pub trait Phases {
    /// Where the runner records the walk.
    type Log: PhaseLog;
    /// Run one phase; the list's order is the runner's.
    async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure>;
    /// The log being built.
    fn log(&mut self) -> &mut Self::Log;
    /// After the last phase: per-node results into the report.
    fn finish(&mut self);
}

/// Run `action`'s phases in order on `phases`; Ok when every phase passed, else Err with
/// the log naming the failed phase. `clock` is the one that wraps the run's progress
/// callback.
pub async fn run<P: Phases>(
    action: &ActionSpec,
    clock: &PhaseClock,
    mut phases: P,
) -> (P, Result<(), ()>) {
    let started = Instant::now();
    let mut result = Ok(());
    for phase in action.phases {
        phases.log().walked().push(Walked {
            phase: phase.id.into(),
            ..Walked::default()
        });
        if let Err(f) = phases.run(phase).await {
            phases.log().failed(f);
            result = Err(());
            break;
        }
    }
    if result.is_ok() {
        phases.finish();
        phases.log().passed(started.elapsed().as_secs_f64());
    }
    phases.log().timed(clock.times());
    (phases, result)
}

/// Note in the log what the current phase did on `node` (or `cluster`).
pub fn walked(log: &mut impl PhaseLog, node: &str, steps: Vec<Step>) {
    if let Some(w) = log.walked().last_mut() {
        w.nodes.entry(node.to_string()).or_default().extend(steps);
    }
}

/// Mark the current phase as passed by in a dry run.
pub fn live_only(log: &mut impl PhaseLog) {
    if let Some(w) = log.walked().last_mut() {
        w.live_only = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::phases::DEPLOY;

    /// Phases that record what ran and fail at `fail_at`.
    struct Fake {
        report: Report,
        ran: Vec<&'static str>,
        fail_at: Option<&'static str>,
        finished: bool,
    }

    impl Phases for Fake {
        type Log = Report;
        async fn run(&mut self, phase: &'static PhaseSpec) -> Result<(), Failure> {
            self.ran.push(phase.id);
            walked(&mut self.report, "m1", Vec::new());
            if self.fail_at == Some(phase.id) {
                return Err(Failure::one(
                    phase.id,
                    StepError::new("m1", "step", "reason").hint("fix"),
                ));
            }
            Ok(())
        }
        fn log(&mut self) -> &mut Report {
            &mut self.report
        }
        fn finish(&mut self) {
            self.finished = true;
        }
    }

    fn run_fake(fail_at: Option<&'static str>) -> Fake {
        let cluster = crate::model::test_cluster::one_master("");
        let fake = Fake {
            report: Report::new("deploy", &cluster, false),
            ran: Vec::new(),
            fail_at,
            finished: false,
        };
        let clock = PhaseClock::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (fake, result) = rt.block_on(run(&DEPLOY, &clock, fake));
        assert_eq!(result.is_ok(), fail_at.is_none());
        fake
    }

    #[test]
    fn every_phase_runs_in_the_list_order_and_the_report_is_finished() {
        let f = run_fake(None);
        let ids: Vec<&str> = DEPLOY.phases.iter().map(|p| p.id).collect();
        assert_eq!(f.ran, ids);
        assert!(f.finished && f.report.ok);
        let walked: Vec<&str> = f.report.walked.iter().map(|w| w.phase.as_str()).collect();
        assert_eq!(walked, ids);
    }

    #[test]
    fn the_first_failure_stops_the_run_and_names_phase_node_step_reason_fix() {
        let f = run_fake(Some("images"));
        assert_eq!(f.ran, ["connect", "preflight", "files", "images"]);
        assert!(!f.finished && !f.report.ok);
        assert_eq!(f.report.failed_phase.as_deref(), Some("images"));
        let text = f.report.render_text();
        assert!(text.contains("FAILED in phase `images`"), "{text}");
        let e = &f.report.errors[0];
        assert_eq!((e.host.as_str(), e.step.as_str()), ("m1", "step"));
        assert_eq!(e.hint.as_deref(), Some("fix"));
        // nothing after the failure was walked
        assert_eq!(f.report.walked.last().unwrap().phase, "images");
    }
}
