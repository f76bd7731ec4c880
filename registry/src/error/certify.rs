//! The certification pipeline's refusals (SB1463–SB1469, SB1475–SB1478, SB1930): submitting a
//! release, its automated checks, and a reviewer's approval or denial. Each is a
//! [`ServerError::Certification`](super::ServerError::Certification), answered by the API as
//! `{"code", "message", "next_step"}` with [`CertifyError::status`].

use switchboard_sdk::ErrorCode;

/// A certification request refused, or the server's certification key or advisory database
/// unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertifyError {
    /// No such published release (or it is yanked): only listed releases are certified.
    #[error("{name}@{version} is not a listed release of this registry{why}")]
    UnknownRelease {
        /// The plugin.
        name: String,
        /// The version asked for.
        version: String,
        /// More, e.g. ", it is yanked".
        why: String,
    },
    /// The release has an open request, or is certified already.
    #[error("{name}@{version} already has certification request {id}, {state}")]
    AlreadySubmitted {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// The request that holds.
        id: String,
        /// Its state.
        state: String,
    },
    /// Approval refused: a check failed, errored or could not run (fail closed).
    #[error("request {id} cannot be approved: {checks}")]
    ChecksBlock {
        /// The request.
        id: String,
        /// The checks that block it, with their results.
        checks: String,
    },
    /// The request is not waiting for a reviewer (decided already, or still checking).
    #[error("request {id} is {state}, not pending")]
    NotPending {
        /// The request.
        id: String,
        /// Its state.
        state: String,
    },
    /// A denial without a reason, or a reason that is too long or not one paragraph.
    #[error("bad reason: {reason}")]
    BadReason {
        /// What is wrong.
        reason: String,
    },
    /// A reviewer deciding a request their own account submitted.
    #[error("`{account}` submitted request {id} and may not decide it")]
    OwnRequest {
        /// The request.
        id: String,
        /// The reviewer's account.
        account: String,
    },
    /// The certification key cannot be read, made or used.
    #[error("the certification key {path} cannot be used: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// Why not.
        reason: String,
    },
    /// No certification request for that release, or of that id.
    #[error("no certification request for {what}")]
    NoRequest {
        /// The release or the id asked for.
        what: String,
    },
    /// `--advisory-db` is not a RustSec advisory database directory.
    #[error("the advisory database {path} cannot be used: {reason}")]
    AdvisoryDb {
        /// The directory.
        path: String,
        /// Why not.
        reason: String,
    },
    /// The approved release could not be countersigned into the registry.
    #[error("countersigning {name}@{version} failed: {reason}")]
    Countersign {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// What went wrong.
        reason: String,
    },
    /// The reviewer form of `/admin/certification` was malformed (no token, no action).
    #[error("the certification form is incomplete: {reason}")]
    BadForm {
        /// What is missing.
        reason: String,
    },
    /// `--runner` names no executable file: the smoke calls could never run isolated.
    #[error("the isolated runner {path} cannot be used: {reason}")]
    Runner {
        /// The path given.
        path: String,
        /// Why not.
        reason: String,
    },
}

impl CertifyError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            CertifyError::UnknownRelease { .. } => 1463,
            CertifyError::AlreadySubmitted { .. } => 1464,
            CertifyError::ChecksBlock { .. } => 1465,
            CertifyError::NotPending { .. } => 1466,
            CertifyError::BadReason { .. } => 1467,
            CertifyError::OwnRequest { .. } => 1468,
            CertifyError::Key { .. } => 1469,
            CertifyError::NoRequest { .. } => 1475,
            CertifyError::AdvisoryDb { .. } => 1476,
            CertifyError::Countersign { .. } => 1477,
            CertifyError::BadForm { .. } => 1478,
            CertifyError::Runner { .. } => 1930,
        })
    }

    /// The HTTP status the API answers it with.
    pub fn status(&self) -> u16 {
        match self {
            CertifyError::UnknownRelease { .. } | CertifyError::NoRequest { .. } => 404,
            CertifyError::AlreadySubmitted { .. }
            | CertifyError::ChecksBlock { .. }
            | CertifyError::NotPending { .. } => 409,
            CertifyError::BadReason { .. } | CertifyError::BadForm { .. } => 400,
            CertifyError::OwnRequest { .. } => 403,
            CertifyError::Key { .. }
            | CertifyError::AdvisoryDb { .. }
            | CertifyError::Countersign { .. }
            | CertifyError::Runner { .. } => 500,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            CertifyError::UnknownRelease { name, .. } => {
                format!("publish the release first; `switchboard info {name}` lists its versions")
            }
            CertifyError::AlreadySubmitted { name, version, .. } => format!(
                "see its state with `switchboard certify status {name}@{version}`; a denied \
                 release may be submitted again"
            ),
            CertifyError::ChecksBlock { .. } => "deny it with the reason, or have the \
                publisher fix what the checks found and submit a new release; a check that \
                could not run is never a pass"
                .into(),
            CertifyError::NotPending { .. } => {
                "`switchboard certify queue` lists the requests waiting for a reviewer".into()
            }
            CertifyError::BadReason { .. } => {
                "give a reason of 1 to 2000 characters: `--reason \"…\"`".into()
            }
            CertifyError::OwnRequest { .. } => {
                "another reviewer decides it: reviewers never certify their own releases".into()
            }
            CertifyError::Key { .. } => "give `--certification-key FILE` an unencrypted \
                minisign secret key (`switchboard keygen --unencrypted`), or remove the broken \
                `keys/certification.key` so the server makes a new one (hosts must then trust \
                the new public key)"
                .into(),
            CertifyError::NoRequest { what } => format!(
                "submit it first: `switchboard certify submit {what}`; \
                 `switchboard certify queue` lists open requests"
            ),
            CertifyError::AdvisoryDb { .. } => "give `--advisory-db` a copy of the RustSec \
                advisory database (a directory holding `crates/NAME/RUSTSEC-….md`)"
                .into(),
            CertifyError::Countersign { .. } => "retry the approval; if it persists, the \
                server's log and its registry directory's lock say more"
                .into(),
            CertifyError::BadForm { .. } => {
                "fill in the token field and press Approve or Deny (deny needs a reason)".into()
            }
            CertifyError::Runner { .. } => "give `--runner` the path of an executable isolated \
                runner (a binary whose `main` calls \
                `switchboard_host::isolation::runner_main()`), or leave it out: \
                `switchboard registry serve` runs its own binary as the runner"
                .into(),
        }
    }
}
