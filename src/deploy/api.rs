//! api: check from the host that the API answers with the exported kubeconfig (kubectl when it is
//! installed, else a TCP connect to the API port), retrying for a bounded time.

use std::time::{Duration, Instant};

use super::{Ctx, Phase, PhaseName};
use crate::cluster::api::api_answers;
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::util::text::human;

pub struct ApiCheck;

/// Pauses between attempts: doubling from 1 s, at most 5 s, so the last tries stay close together.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Calls `attempt` until it answers or `limit` has passed, pausing with backoff in between;
/// `waiting(attempt number, elapsed, reason)` is told about every failed attempt that is retried.
/// The error is the last reason.
pub(crate) fn retry_until(
    limit: Duration,
    mut attempt: impl FnMut() -> Result<String, String>,
    mut waiting: impl FnMut(u32, Duration, &str),
) -> Result<String, String> {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut tries = 1;
    loop {
        let reason = match attempt() {
            Ok(said) => return Ok(said),
            Err(reason) => reason,
        };
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(reason);
        }
        tries += 1;
        waiting(tries, start.elapsed(), &reason);
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

impl Phase for ApiCheck {
    fn name(&self) -> PhaseName {
        PhaseName::Api
    }

    fn title(&self) -> &'static str {
        "Check the API from this host"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let server = crate::cluster::api::server(&cx.plan, &cx.inventory);
        let kubeconfig = cx.kubeconfig_path();
        // Right after the kubeconfig is written the API may not answer yet: on libvirt keepalived
        // first has to elect the holder of the virtual IP, and the load balancer forwards only
        // endpoints it has learned (k0sproject/k0s docs/cplb.md).
        let said = retry_until(
            cx.timeouts().api,
            || api_answers(&kubeconfig, &server).map_err(|e| e.to_string()),
            |attempt, elapsed, reason| {
                eprintln!(
                    "    waiting for the API at {server} (attempt {attempt}, {}): {reason}",
                    human_secs(elapsed)
                );
            },
        )
        .map_err(|reason| ClusterError::ApiUnreachable {
            server: server.clone(),
            reason: format!("after {}: {reason}", human(cx.timeouts().api)),
        })?;
        eprintln!("    {said}");
        Ok(())
    }
}

/// Whole seconds, as the waiting line shows them.
fn human_secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn api_wait_succeeds_once_the_api_answers_after_a_few_seconds() {
        let start = Instant::now();
        let lines = RefCell::new(Vec::new());
        let said = retry_until(
            Duration::from_secs(20),
            || {
                if start.elapsed() >= Duration::from_secs(3) {
                    Ok("kubectl: https://10.0.0.100:6443/readyz says ok".to_string())
                } else {
                    Err("dial tcp 10.0.0.100:6443: connect: no route to host".to_string())
                }
            },
            |attempt, elapsed, reason| {
                lines
                    .borrow_mut()
                    .push(format!("{attempt} {} {reason}", elapsed.as_secs()))
            },
        );
        assert_eq!(
            said.as_deref(),
            Ok("kubectl: https://10.0.0.100:6443/readyz says ok")
        );
        let lines = lines.into_inner();
        // Tries at about 0, 1 and 3 s (pauses 1 s, then 2 s): two waiting lines.
        assert_eq!(
            lines,
            [
                "2 0 dial tcp 10.0.0.100:6443: connect: no route to host",
                "3 1 dial tcp 10.0.0.100:6443: connect: no route to host",
            ]
        );
        assert!(start.elapsed() < Duration::from_secs(6));
    }

    #[test]
    fn api_wait_gives_up_after_the_limit_with_the_last_reason() {
        let start = Instant::now();
        let mut n = 0;
        let said = retry_until(
            Duration::from_secs(2),
            || {
                n += 1;
                Err(format!("refused ({n})"))
            },
            |_, _, _| {},
        );
        let took = start.elapsed();
        // Tries at 0, 1 and 2 s; the last reason is the error.
        assert_eq!(said, Err("refused (3)".to_string()));
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }
}
