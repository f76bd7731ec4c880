//! Which addresses the server listens on: IP literals only, never "every interface".

use std::net::{IpAddr, SocketAddr};

use crate::error::ServerError;

/// Parses `--listen`: an IP address and a port (`127.0.0.1:8080`, `[::1]:8080`; port 0 picks a
/// free one). Host names are refused (a name can resolve to an interface nobody meant),
/// and so are the unspecified addresses (`0.0.0.0`, `::`: every interface at once), multicast
/// and broadcast. To serve other machines, name the interface's own address.
///
/// ```
/// use switchboard_registry::server::parse_listen;
/// assert!(parse_listen("127.0.0.1:8080").is_ok());
/// assert!(parse_listen("[::1]:0").is_ok());
/// assert_eq!(parse_listen("0.0.0.0:8080").unwrap_err().code().to_string(), "SB1375");
/// assert!(parse_listen("localhost:8080").is_err());
/// ```
pub fn parse_listen(text: &str) -> Result<SocketAddr, ServerError> {
    let refuse = |reason: &str| ServerError::Listen {
        listen: text.to_owned(),
        reason: reason.to_owned(),
    };
    let addr: SocketAddr = text
        .trim()
        .parse()
        .map_err(|_| refuse("not an IP address and port (host names are not accepted)"))?;
    let ip = addr.ip();
    if ip.is_unspecified() {
        return Err(refuse(
            "the unspecified address listens on every interface at once",
        ));
    }
    if ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        return Err(refuse(
            "a multicast or broadcast address is not an interface",
        ));
    }
    Ok(addr)
}
