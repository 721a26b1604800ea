//! How a command fails: the one error type every command returns, and the
//! exit code each kind of failure maps to (the README's "Exit codes").
//!
//! | code | when |
//! |---|---|
//! | 0 | done (a replay with rejected lines too: its summary counts them) |
//! | 1 | [`Failure::Failed`]: an unreadable input, a failed write, a broker that went away |
//! | 2 | a bad command-line argument (clap's own, before any command runs) |
//! | 64 | [`Failure::Refused`]: the configuration, a file it names (rules, model, database, API keys, journal) or too many malformed input lines |

use std::fmt;

/// The exit code of a refusal (`EX_USAGE` of BSD's sysexits).
pub const REFUSED: u8 = 64;
/// The exit code of any other failure.
pub const FAILED: u8 = 1;

/// Why a command did not finish.
#[derive(Debug)]
pub enum Failure {
    /// The command refused to start or go on: every problem, one per line,
    /// for standard error (none when the command printed them itself, as
    /// `check` does on standard output).
    Refused(Vec<String>),
    /// Anything else, with its chain of causes.
    Failed(anyhow::Error),
}

impl Failure {
    /// A refusal listing each problem.
    pub fn refused<P: fmt::Display>(problems: impl IntoIterator<Item = P>) -> Failure {
        Failure::Refused(problems.into_iter().map(|p| p.to_string()).collect())
    }

    /// The process's exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Refused(_) => REFUSED,
            Failure::Failed(_) => FAILED,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(lines) => f.write_str(&lines.join("\n")),
            Failure::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Failed(e.into())
    }
}
