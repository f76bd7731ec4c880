//! The registry server's errors (`switchboard registry serve`, its API and its tokens):
//! SB1375–SB1399 and SB1440–SB1469 (the certification pipeline's, SB1463–SB1469 and
//! SB1475–SB1478, are [`CertifyError`]s); for reviews and moderation, SB1358–SB1359; the
//! marketplace, SB1480–SB1489.

use super::CertifyError;

use switchboard_sdk::ErrorCode;

/// The registry server refused a request or could not start.
///
/// Each has an HTTP status ([`ServerError::status`]); the API answers it as
/// `{"code": "SB13xx", "message": …, "next_step": …}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `--listen` is not an IP address and port the server may listen on.
    #[error("cannot listen on `{listen}`: {reason}")]
    Listen {
        /// The address as given.
        listen: String,
        /// Why not.
        reason: String,
    },
    /// The data directory cannot be used (a half-made one, or a file in the way).
    #[error("the data directory {path} cannot be used: {reason}")]
    DataDir {
        /// The data directory.
        path: String,
        /// Why not.
        reason: String,
    },
    /// The server's database failed.
    #[error("the server's database {path} failed: {reason}")]
    Database {
        /// The database file.
        path: String,
        /// What SQLite said.
        reason: String,
    },
    /// Binding the listening socket or starting the runtime failed.
    #[error("cannot serve on {listen}: {reason}")]
    Bind {
        /// The address.
        listen: String,
        /// What the system said.
        reason: String,
    },
    /// A request path that is not a plain path inside the registry (`..`, `.` files, encoded
    /// tricks, absolute paths, odd characters).
    #[error("`{path}` is not a path inside the registry: {reason}")]
    BadPath {
        /// The path as asked for.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// No such file or endpoint.
    #[error("{path} is not served here")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// No plugin of that name.
    #[error("no plugin `{name}` is published here")]
    UnknownPlugin {
        /// The name.
        name: String,
    },
    /// Not a plugin name (the registry's name rules).
    #[error("`{name}` is not a plugin name: {reason}")]
    BadName {
        /// The name as asked for.
        name: String,
        /// Why not.
        reason: String,
    },
    /// A query parameter out of range or malformed.
    #[error("bad query: {reason}")]
    BadQuery {
        /// What is wrong.
        reason: String,
    },
    /// No token, a malformed one, or one the server does not know.
    #[error("not authenticated: {reason}")]
    Unauthenticated {
        /// Why.
        reason: String,
    },
    /// The token has expired.
    #[error("token {id} has expired")]
    TokenExpired {
        /// The token's id.
        id: String,
    },
    /// The token was revoked.
    #[error("token {id} was revoked")]
    TokenRevoked {
        /// The token's id.
        id: String,
    },
    /// The token's scope does not allow this.
    #[error("token {id} (scope {scope}) may not {action}")]
    WrongScope {
        /// The token's id.
        id: String,
        /// Its scope.
        scope: String,
        /// What was asked.
        action: String,
    },
    /// The plugin's name belongs to another account.
    #[error("`{name}` belongs to account `{owner}`, not `{account}`")]
    NotOwner {
        /// The plugin.
        name: String,
        /// The token's account.
        account: String,
        /// The owning account.
        owner: String,
    },
    /// An upload larger than the server accepts.
    #[error("the upload is larger than {limit} bytes")]
    UploadTooLarge {
        /// The cap.
        limit: u64,
    },
    /// An upload that is not a package with its signature, or a request body that does not
    /// parse.
    #[error("malformed request: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// A token's account, scope or expiry that does not parse.
    #[error("bad token request: {reason}")]
    BadToken {
        /// What is wrong.
        reason: String,
    },
    /// No token of that id.
    #[error("no token {id}")]
    UnknownToken {
        /// The id asked for.
        id: String,
    },
    /// Too many requests from this client.
    #[error("too many requests: retry after {retry_after} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server failed on its side (reading its own files).
    #[error("the server failed: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
    /// A name published outside the server (by hand into its registry directory) that no
    /// account owns: nobody claims it by publishing; an admin assigns it.
    #[error(
        "`{name}` is published but no account owns it; `{account}` cannot claim it by publishing"
    )]
    UnclaimedName {
        /// The plugin.
        name: String,
        /// The account that tried.
        account: String,
    },
    /// Removing the last owner of a name.
    #[error("`{account}` is the last owner of `{name}`")]
    LastOwner {
        /// The plugin.
        name: String,
        /// The owner.
        account: String,
    },
    /// The release is signed by a key not bound to the publishing account.
    #[error("the package is signed by key {key_id}, which is not bound to account `{account}`")]
    UnboundKey {
        /// The signing key's id.
        key_id: String,
        /// The publishing account.
        account: String,
    },
    /// A public key that does not parse.
    #[error("not a minisign public key: {reason}")]
    BadKey {
        /// Why.
        reason: String,
    },
    /// The key is bound to another account already.
    #[error("key {key_id} is bound to account `{account}` already")]
    KeyTaken {
        /// The key id.
        key_id: String,
        /// The account holding it.
        account: String,
    },
    /// No such key bound to the account.
    #[error("no key {key_id} is bound to account `{account}`")]
    UnknownKey {
        /// The key id.
        key_id: String,
        /// The account.
        account: String,
    },
    /// A check before listing could not run (or failed to finish): the release stays
    /// unlisted, never "passed because nothing ran".
    #[error(
        "check `{check}` of upload {upload} could not run: {reason}; the release stays unlisted"
    )]
    CheckErrored {
        /// The check.
        check: String,
        /// The upload's id.
        upload: String,
        /// What went wrong.
        reason: String,
    },
    /// No upload of that id.
    #[error("no upload {id}")]
    UnknownUpload {
        /// The id asked for.
        id: String,
    },
    /// Releasing or rejecting an upload that is not held for review.
    #[error("upload {id} is {state}, not held for review")]
    NotHeld {
        /// The upload.
        id: String,
        /// Its state.
        state: String,
    },
    /// Removing an owner who does not own the name.
    #[error("`{account}` does not own `{name}`")]
    NotAnOwner {
        /// The plugin.
        name: String,
        /// The account.
        account: String,
    },
    /// `--database` is not a PostgreSQL URL the server understands.
    #[error("`--database {url}` is not a PostgreSQL database URL: {reason}")]
    BadDatabaseUrl {
        /// The URL as given, without any password.
        url: String,
        /// Why not.
        reason: String,
    },
    /// The PostgreSQL database could not be reached when the server started (refused,
    /// unknown host, wrong password, no such database).
    #[error("cannot connect to the PostgreSQL database {url}: {reason}")]
    DatabaseUnreachable {
        /// The URL, without any password.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The PostgreSQL database cannot have the `pg_trgm` extension the search needs (not
    /// installed with the server, or the user may not create it).
    #[error(
        "PostgreSQL database {url} has no `pg_trgm` extension and it cannot be created: {reason}"
    )]
    SearchExtension {
        /// The URL, without any password.
        url: String,
        /// What PostgreSQL said.
        reason: String,
    },
    /// The search tables in PostgreSQL could not be brought in step with the registry
    /// directory.
    #[error("cannot copy the catalog into PostgreSQL for search: {reason}")]
    SearchSync {
        /// What PostgreSQL said.
        reason: String,
    },
    /// A paid plugin's package asked for by an account with no entitlement to it (or with no
    /// token at all).
    #[error("`{name}` is a paid plugin ({price}) and {who} has no entitlement to it")]
    PaymentRequired {
        /// The plugin.
        name: String,
        /// Its price, as shown.
        price: String,
        /// `account \`ACCOUNT\`` or `a request without a token`.
        who: String,
    },
    /// The payment provider declined a purchase; nothing was recorded.
    #[error("the payment for `{name}` was declined: {reason}")]
    PaymentDeclined {
        /// The plugin.
        name: String,
        /// What the provider said.
        reason: String,
    },
    /// Buying a plugin that is free, or a trial of one that offers none.
    #[error("`{name}` cannot be bought: {reason}")]
    NothingToBuy {
        /// The plugin.
        name: String,
        /// Why.
        reason: String,
    },
    /// A second trial of one plugin by one account.
    #[error("account `{account}` has had its trial of `{name}` already")]
    TrialUsed {
        /// The plugin.
        name: String,
        /// The account.
        account: String,
    },
    /// The server was started without a payment provider: it sells nothing.
    #[error("this registry takes no payments (no payment provider is configured)")]
    NoPayments,
    /// No purchase of that id.
    #[error("no purchase `{id}`")]
    UnknownPurchase {
        /// The id asked for.
        id: String,
    },
    /// A refund that does not fit its purchase (more than is left of it, in another currency).
    #[error("the refund of purchase `{id}` is refused: {reason}")]
    BadRefund {
        /// The purchase.
        id: String,
        /// Why.
        reason: String,
    },
    /// No dispute of that id.
    #[error("no dispute `{id}`")]
    UnknownDispute {
        /// The id asked for.
        id: String,
    },
    /// Resolving a dispute that is resolved already.
    #[error("dispute `{id}` was resolved already")]
    DisputeResolved {
        /// The dispute.
        id: String,
    },
    /// Marketplace input the rules refuse (a price, a rate above the cap, a month, an
    /// amount): the market rule's own coded message is kept in `reason`.
    #[error("the marketplace refuses it: {reason}")]
    MarketRefused {
        /// The rule's message, with its code (`[SB1347] …`).
        reason: String,
    },
    /// A moderation decision on a review that changed since the moderator saw it (its
    /// revision differs): the moderator has not seen what they would decide on.
    #[error("review {id} changed since you saw it (you saw revision {seen}, it is now {now})")]
    ReviewChanged {
        /// The review.
        id: i64,
        /// The revision the moderator sent.
        seen: String,
        /// Its revision now.
        now: String,
    },
    /// A moderation decision without the revision of the review the moderator saw.
    #[error("deciding on review {id} needs the revision you saw: {reason}")]
    RevisionMissing {
        /// The review.
        id: String,
        /// What was wrong with the request.
        reason: String,
    },
    /// An account name that does not parse.
    #[error(
        "`{account}` is not an account name (lower-case letters, digits, `-`, `_`, at most 64)"
    )]
    BadAccount {
        /// The name as given.
        account: String,
    },
    /// A review's rating is not a whole number of stars from 1 to 5.
    #[error("a rating is 1 to 5 stars, not {rating}")]
    BadRating {
        /// The rating as given.
        rating: String,
    },
    /// A review's text, a rejection's reason, a report's reason or a resolution's note that
    /// is empty, too long or holds control characters.
    #[error("the {what} cannot be used: {reason}")]
    BadReviewText {
        /// Which text (`review text`, `reason`, `note`).
        what: String,
        /// Why not.
        reason: String,
    },
    /// The account reviewed that version already (one review per account per version).
    #[error("account `{account}` has reviewed {plugin}@{version} already (review {id})")]
    DuplicateReview {
        /// The plugin.
        plugin: String,
        /// The version.
        version: String,
        /// The account.
        account: String,
        /// The review it wrote.
        id: i64,
    },
    /// No review of that id (of that plugin).
    #[error("no review {id} of `{plugin}`")]
    UnknownReview {
        /// The plugin in the path.
        plugin: String,
        /// The id asked for.
        id: String,
    },
    /// Changing or deleting another account's review without moderating.
    #[error("review {id} is by `{author}`, not `{account}`")]
    NotReviewAuthor {
        /// The review.
        id: i64,
        /// Its author.
        author: String,
        /// The token's account.
        account: String,
    },
    /// Approving or rejecting a review that is not pending.
    #[error("review {id} is {state}, not pending moderation")]
    NotPending {
        /// The review.
        id: i64,
        /// Its state.
        state: String,
    },
    /// Reviewing a version of the plugin that is not published.
    #[error("`{plugin}` has no published version {version}")]
    UnknownVersion {
        /// The plugin.
        plugin: String,
        /// The version as given.
        version: String,
    },
    /// An abuse report whose subject is malformed (neither a plugin nor a review of it).
    #[error("bad report: {reason}")]
    BadReport {
        /// What is wrong.
        reason: String,
    },
    /// No report of that id.
    #[error("no report {id}")]
    UnknownReport {
        /// The id asked for.
        id: String,
    },
    /// Resolving a report that is resolved already.
    #[error("report {id} is {state} already")]
    ReportResolved {
        /// The report.
        id: i64,
        /// Its state.
        state: String,
    },
    /// An owner of the plugin reviewing it.
    #[error("`{account}` owns `{plugin}`; owners do not review their own plugin")]
    OwnReview {
        /// The plugin.
        plugin: String,
        /// The account.
        account: String,
    },
    /// A review, report or resolution body field out of its set of values (`outcome`).
    #[error("`{value}` is not one of {expected}")]
    BadChoice {
        /// The value as given.
        value: String,
        /// The values accepted.
        expected: String,
    },
    /// The certification pipeline refused (its own codes).
    #[error("{0}")]
    Certification(CertifyError),
}

impl From<CertifyError> for ServerError {
    fn from(e: CertifyError) -> Self {
        ServerError::Certification(e)
    }
}

impl ServerError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        if let ServerError::Certification(e) = self {
            return e.code();
        }
        ErrorCode::from_number(match self {
            ServerError::Certification(_) => 1383,
            ServerError::Listen { .. } => 1375,
            ServerError::DataDir { .. } => 1376,
            ServerError::Database { .. } => 1377,
            ServerError::Bind { .. } => 1378,
            ServerError::BadPath { .. } => 1379,
            ServerError::NotFound { .. } => 1380,
            ServerError::UnknownPlugin { .. } => 1381,
            ServerError::BadQuery { .. } => 1382,
            ServerError::Internal { .. } => 1383,
            ServerError::BadName { .. } => 1384,
            ServerError::Unauthenticated { .. } => 1385,
            ServerError::TokenExpired { .. } => 1386,
            ServerError::TokenRevoked { .. } => 1387,
            ServerError::WrongScope { .. } => 1388,
            ServerError::NotOwner { .. } => 1389,
            ServerError::UploadTooLarge { .. } => 1390,
            ServerError::Malformed { .. } => 1391,
            ServerError::BadToken { .. } => 1392,
            ServerError::UnknownToken { .. } => 1393,
            ServerError::RateLimited { .. } => 1397,
            ServerError::SearchExtension { .. } => 1398,
            ServerError::SearchSync { .. } => 1399,
            ServerError::UnclaimedName { .. } => 1440,
            ServerError::LastOwner { .. } => 1441,
            ServerError::UnboundKey { .. } => 1442,
            ServerError::BadKey { .. } => 1443,
            ServerError::KeyTaken { .. } => 1444,
            ServerError::UnknownKey { .. } => 1445,
            ServerError::CheckErrored { .. } => 1446,
            ServerError::UnknownUpload { .. } => 1447,
            ServerError::NotHeld { .. } => 1448,
            ServerError::NotAnOwner { .. } => 1449,
            ServerError::BadAccount { .. } => 1450,
            ServerError::BadDatabaseUrl { .. } => 1451,
            ServerError::DatabaseUnreachable { .. } => 1452,
            ServerError::BadRating { .. } => 1453,
            ServerError::BadReviewText { .. } => 1454,
            ServerError::DuplicateReview { .. } => 1455,
            ServerError::UnknownReview { .. } => 1456,
            ServerError::NotReviewAuthor { .. } => 1457,
            ServerError::NotPending { .. } => 1458,
            ServerError::UnknownVersion { .. } => 1459,
            ServerError::BadReport { .. } => 1460,
            ServerError::UnknownReport { .. } => 1461,
            ServerError::ReportResolved { .. } => 1462,
            ServerError::OwnReview { .. } => 1358,
            ServerError::BadChoice { .. } => 1359,
            ServerError::PaymentRequired { .. } => 1480,
            ServerError::PaymentDeclined { .. } => 1481,
            ServerError::NothingToBuy { .. } => 1482,
            ServerError::TrialUsed { .. } => 1483,
            ServerError::NoPayments => 1484,
            ServerError::UnknownPurchase { .. } => 1485,
            ServerError::BadRefund { .. } => 1486,
            ServerError::UnknownDispute { .. } => 1487,
            ServerError::DisputeResolved { .. } => 1488,
            ServerError::MarketRefused { .. } => 1489,
            ServerError::ReviewChanged { .. } => 1910,
            ServerError::RevisionMissing { .. } => 1911,
        })
    }

    /// The HTTP status the API answers this with.
    pub fn status(&self) -> u16 {
        match self {
            ServerError::Certification(e) => e.status(),
            ServerError::BadPath { .. }
            | ServerError::BadQuery { .. }
            | ServerError::BadName { .. }
            | ServerError::Malformed { .. }
            | ServerError::BadToken { .. }
            | ServerError::BadKey { .. }
            | ServerError::BadAccount { .. }
            | ServerError::BadRating { .. }
            | ServerError::BadReviewText { .. }
            | ServerError::BadReport { .. }
            | ServerError::BadChoice { .. } => 400,
            ServerError::Unauthenticated { .. }
            | ServerError::TokenExpired { .. }
            | ServerError::TokenRevoked { .. } => 401,
            ServerError::WrongScope { .. }
            | ServerError::NotOwner { .. }
            | ServerError::UnclaimedName { .. }
            | ServerError::UnboundKey { .. }
            | ServerError::NotReviewAuthor { .. }
            | ServerError::OwnReview { .. } => 403,
            ServerError::LastOwner { .. }
            | ServerError::KeyTaken { .. }
            | ServerError::NotHeld { .. }
            | ServerError::DuplicateReview { .. }
            | ServerError::NotPending { .. }
            | ServerError::ReportResolved { .. } => 409,
            ServerError::UnknownKey { .. }
            | ServerError::UnknownUpload { .. }
            | ServerError::NotAnOwner { .. }
            | ServerError::UnknownReview { .. }
            | ServerError::UnknownVersion { .. }
            | ServerError::UnknownReport { .. } => 404,
            ServerError::CheckErrored { .. } | ServerError::SearchSync { .. } => 503,
            ServerError::UploadTooLarge { .. } => 413,
            ServerError::UnknownToken { .. } => 404,
            ServerError::RateLimited { .. } => 429,
            ServerError::PaymentRequired { .. } | ServerError::PaymentDeclined { .. } => 402,
            ServerError::NothingToBuy { .. }
            | ServerError::TrialUsed { .. }
            | ServerError::BadRefund { .. }
            | ServerError::DisputeResolved { .. } => 409,
            ServerError::NoPayments => 403,
            ServerError::UnknownPurchase { .. } | ServerError::UnknownDispute { .. } => 404,
            ServerError::MarketRefused { .. } => 400,
            ServerError::ReviewChanged { .. } => 409,
            ServerError::RevisionMissing { .. } => 400,
            ServerError::NotFound { .. } | ServerError::UnknownPlugin { .. } => 404,
            _ => 500,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ServerError::Certification(e) => e.next_step(),
            ServerError::Listen { .. } => "give an IP address and port, e.g. `--listen \
                127.0.0.1:8080` (or `[::1]:8080`); to serve other machines name the interface's \
                own address (not 0.0.0.0) and put a TLS proxy in front"
                .into(),
            ServerError::DataDir { .. } => "give an empty or new directory to start a new \
                registry, or the directory a server made before (it holds `registry/`, `keys/` \
                and `server.db`)"
                .into(),
            ServerError::Database { .. } => "SQLite: check the data directory's free space \
                and permissions, and restore `server.db` from a backup if it is damaged; \
                PostgreSQL: check the database server is up and its log, then retry"
                .into(),
            ServerError::BadDatabaseUrl { .. } => "give `--database \
                postgres://USER:PASSWORD@HOST:PORT/DATABASE` (or leave it out: SQLite in the \
                data directory)"
                .into(),
            ServerError::SearchExtension { .. } => "install PostgreSQL's contrib extensions \
                (Debian's `postgresql` package has them; elsewhere `postgresql-contrib`), and \
                run `CREATE EXTENSION pg_trgm;` in the database as its owner or a superuser, \
                or give the server's user the CREATE privilege on the database"
                .into(),
            ServerError::SearchSync { .. } => "retry; check PostgreSQL's log (the search \
                tables are derived from the registry directory: `DELETE FROM search_state` \
                makes the next search rebuild them)"
                .into(),
            ServerError::DatabaseUnreachable { .. } => "check PostgreSQL runs and listens \
                there, and that the user, its password and the database (made with `createdb`) \
                are right"
                .into(),
            ServerError::Bind { .. } => "choose another port (or stop what listens there), \
                and check the address belongs to this machine"
                .into(),
            ServerError::BadPath { .. } => "ask for a file the snapshot lists, e.g. \
                `/index/timestamp.json`, with no `..`, `.` files or encoded separators"
                .into(),
            ServerError::NotFound { .. } => "see `/api/v1/search` for what is published; \
                registry files are under `/index/`"
                .into(),
            ServerError::UnknownPlugin { .. } => {
                "check the spelling, or search: `/api/v1/search?q=…`".into()
            }
            ServerError::BadName { .. } => "plugin names are lower-case letters, digits, `-` \
                and `_`, starting with a letter, at most 64 characters"
                .into(),
            ServerError::BadQuery { .. } => "fix the parameter as the message says (`page` \
                from 1, `per_page` from 1 to the maximum named)"
                .into(),
            ServerError::Unauthenticated { .. } => "send `Authorization: Bearer TOKEN` with a \
                token from the registry's operator (`switchboard login --registry NAME --token …` \
                stores it for `switchboard publish`)"
                .into(),
            ServerError::TokenExpired { .. } => {
                "ask the registry's operator for a new token, then `switchboard login` again".into()
            }
            ServerError::TokenRevoked { .. } => "the token was withdrawn: ask the registry's \
                operator for a new one, then `switchboard login` again"
                .into(),
            ServerError::WrongScope { .. } => "use a token whose scope covers it \
                (`publish:NAME-PATTERN` to publish, `yank` to yank, `moderate` to moderate \
                reviews and reports, `admin`)"
                .into(),
            ServerError::NotOwner { .. } => "publish under another name, or ask the owner (or \
                the registry's operator) to transfer it"
                .into(),
            ServerError::UploadTooLarge { .. } => "make the package smaller (strip debug \
                information), or ask the operator to raise the cap"
                .into(),
            ServerError::Malformed { .. } => "upload with `switchboard publish PACKAGE \
                --registry NAME`: the body is the package, the `Switchboard-Signature` header its \
                `.minisig` in base64"
                .into(),
            ServerError::BadToken { .. } => "scopes are `publish:NAME`, `publish:PREFIX*`, \
                `yank`, `account`, `moderate` or `admin`; accounts are lower-case names; \
                expiries are durations such as `30d`"
                .into(),
            ServerError::UnknownToken { .. } => {
                "`switchboard registry token list --data-dir DIR` shows the tokens".into()
            }
            ServerError::RateLimited { retry_after } => {
                format!("wait {retry_after} s (the `Retry-After` header), then retry")
            }
            ServerError::Internal { .. } => {
                "retry; if it persists, the server's log and data directory say more".into()
            }
            ServerError::UnclaimedName { name, account } => format!(
                "ask the registry's operator to assign it: `switchboard owner add {name} \
                 {account} --registry NAME` with an admin token"
            ),
            ServerError::LastOwner { name, .. } => format!(
                "add another owner first (`switchboard owner add {name} ACCOUNT`), then remove \
                 this one"
            ),
            ServerError::UnboundKey { .. } => "bind the public key to the account first: \
                `switchboard key add KEY.pub --registry NAME`, or sign with a key bound to it \
                (`switchboard key list --registry NAME`)"
                .into(),
            ServerError::BadKey { .. } => {
                "give the `.pub` file minisign or `switchboard keygen` wrote".into()
            }
            ServerError::KeyTaken { .. } => {
                "a key belongs to one account: make a new key for this one".into()
            }
            ServerError::UnknownKey { .. } => {
                "`switchboard key list --registry NAME` shows the account's keys".into()
            }
            ServerError::CheckErrored { upload, .. } => format!(
                "upload again later; the checks of upload {upload} are at \
                 /api/v1/uploads/{upload}"
            ),
            ServerError::UnknownUpload { .. } => {
                "the upload's id is in the answer to the upload (`upload` field)".into()
            }
            ServerError::NotHeld { .. } => {
                "only held uploads are released or rejected: `switchboard hold list`".into()
            }
            ServerError::NotAnOwner { name, .. } => {
                format!("`switchboard owner list {name}` shows its owners")
            }
            ServerError::BadAccount { .. } => {
                "write the account as lower-case letters, digits, `-` and `_`".into()
            }
            ServerError::BadRating { .. } => "give `rating` as a whole number from 1 to 5".into(),
            ServerError::BadReviewText { .. } => "write 1 to 4,000 characters of text without \
                control characters (line breaks and tabs are fine)"
                .into(),
            ServerError::DuplicateReview { plugin, id, .. } => format!(
                "change your review instead: `PUT /api/v1/plugins/{plugin}/reviews/{id}` \
                 (`switchboard review NAME@VERSION --edit …`), or delete it first"
            ),
            ServerError::UnknownReview { plugin, .. } => format!(
                "`GET /api/v1/plugins/{plugin}/reviews` lists its approved reviews, `GET \
                 /api/v1/reviews/mine` yours"
            ),
            ServerError::NotReviewAuthor { .. } => "only its author changes a review; a \
                moderator (scope `moderate` or `admin`) may delete or reject it"
                .into(),
            ServerError::NotPending { .. } => "only pending reviews are approved or rejected: \
                `switchboard moderate list` shows them (an edited review is pending again)"
                .into(),
            ServerError::UnknownVersion { plugin, .. } => {
                format!("review a published version: `GET /api/v1/plugins/{plugin}` lists them")
            }
            ServerError::BadReport { .. } => "report a plugin (`{\"plugin\": NAME, \
                \"reason\": …}`) or one of its reviews (add `\"review\": ID`)"
                .into(),
            ServerError::UnknownReport { .. } => {
                "`switchboard moderate reports` lists the open reports".into()
            }
            ServerError::ReportResolved { .. } => {
                "nothing to do: it was resolved; its resolution is in the audit trail".into()
            }
            ServerError::OwnReview { .. } => {
                "reviews are for users of a plugin; answer reviews in its README or changelog"
                    .into()
            }
            ServerError::BadChoice { expected, .. } => format!("use one of {expected}"),
            ServerError::PaymentRequired { name, .. } => format!(
                "buy it: `switchboard buy {name} --registry REGISTRY` (with the account's token \
                 stored by `switchboard login`), then install again"
            ),
            ServerError::PaymentDeclined { .. } => {
                "nothing was charged or recorded: check the payment method, then buy again".into()
            }
            ServerError::NothingToBuy { name, .. } => {
                format!("`switchboard info {name}` shows its price; a free plugin installs as is")
            }
            ServerError::TrialUsed { name, .. } => {
                format!("buy it without `--trial`: `switchboard buy {name} --registry REGISTRY`")
            }
            ServerError::NoPayments => {
                "ask the registry's operator; a server sells only with a payment provider".into()
            }
            ServerError::UnknownPurchase { .. } => {
                "the purchase id is the `purchase` field of the purchase's answer".into()
            }
            ServerError::BadRefund { .. } => {
                "refund at most what is left of the purchase, in its currency".into()
            }
            ServerError::UnknownDispute { .. } => {
                "`GET /api/v1/disputes` lists the disputes you may see".into()
            }
            ServerError::DisputeResolved { .. } => {
                "a resolved dispute stays resolved: open a new one if needed".into()
            }
            ServerError::MarketRefused { .. } => {
                "fix the value as the message says (docs/marketplace.md lists the rules)".into()
            }
            ServerError::ReviewChanged { .. } => "read the review again (`switchboard moderate \
                list`, or reload the moderation page) and decide on what it says now"
                .into(),
            ServerError::RevisionMissing { .. } => "send `{\"revision\": …}` with the revision \
                the moderation queue showed for the review (`switchboard moderate approve ID \
                --revision REV`)"
                .into(),
        }
    }
}
