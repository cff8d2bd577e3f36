//! The one error type the binary sees, and the exit code for each kind of failure.

use crate::lock::LockError;
use crate::settings::SettingsError;
use crate::vagrant::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("write {what}")]
    Output {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// 2 bad input (settings, plan lock), 3 missing tool, 4 remote or cluster, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Settings(_) | Error::Provider(_) => 2,
            Error::Lock(LockError::Write { .. }) => 1,
            Error::Lock(_) => 2,
            Error::Output { .. } => 1,
        }
    }
}
