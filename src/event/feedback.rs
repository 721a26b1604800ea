//! The verdict of feedback on an earlier event (`POST /v1/feedback`), after
//! Cognito's auth-event feedback: `valid` and `invalid` there.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackVerdict {
    /// The user signed in: teach the profile the event's features.
    Legitimate,
    /// Someone else did: the event's features count against the user, and
    /// enforcements are issued.
    Fraudulent,
}
