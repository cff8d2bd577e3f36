//! wait-ssh: connect to every node in parallel, retrying while they boot; pins host keys.

use std::time::Instant;

use super::{Ctx, Phase, PhaseName};
use crate::adapters::ssh::connect;
use crate::error::Error;
use crate::util::parallel;
use crate::util::text::human;

pub struct WaitSsh;

impl Phase for WaitSsh {
    fn name(&self) -> PhaseName {
        PhaseName::WaitSsh
    }

    fn title(&self) -> &'static str {
        "Wait for SSH on every node"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let start = Instant::now();
        let (known_hosts, retry) = (&cx.known_hosts, &cx.timeouts().ssh);
        let results = parallel(&cx.inventory.nodes, |node| {
            let session = connect(&node.name, &node.ssh, known_hosts, retry);
            if session.is_ok() {
                eprintln!("    {}: ssh ready ({})", node.name, human(start.elapsed()));
            }
            session
        });
        let mut sessions = Vec::new();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(session) => sessions.push(session),
                Err(e) => {
                    eprintln!("    {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        cx.sessions = sessions;
        Ok(())
    }
}
