//! The runner: the child process an isolated plugin lives in.
//!
//! It verifies nothing (ARCHITECTURE D3): the host sends it the bytes it verified, as a sealed
//! memfd. Order: read [`Init`] from the control channel (stdin) with the memfd and the outbound
//! channel attached → apply the sandbox ([`sandbox::apply`]) while still single-threaded → open
//! the memfd with the dynamic loader (the first moment plugin code runs) → check it reports the
//! manifest the host checked → instantiate with services that proxy to the host → answer
//! [`InitReply::Ready`] with the layers in force → serve every channel the host sends.
//!
//! Each channel is served by a thread of its own, which runs the plugin's code for the
//! requests on it; a service the plugin calls meanwhile goes out on the same channel (the host
//! is waiting on it), and threads the plugin spawned itself use the outbound channel.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use switchboard_sdk::abi::{LoadedModule, RawPlugin, ResponseBuffer};
use switchboard_sdk::PluginError;

use super::channel::{Channel, DEFAULT_MAX_FRAME};
use super::protocol::{
    encode_health, Call, Frame, Init, InitReply, WireError, PROTOCOL_VERSION, RUNNER_MAGIC,
};
use super::proxy::{Proxy, CURRENT};
use super::sandbox;

/// The argument that makes a binary calling [`hook`] act as a runner.
pub const RUNNER_ARG: &str = "--switchboard-runner";

/// How long a runner thread polls for the next call before sleeping.
const RUNNER_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// What the host sends on the control channel after [`Init`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// A new call channel is attached: serve it on a thread of its own.
    Channel,
}

/// Runs the runner and exits; never returns. The `switchboard-runner` binary is this one call,
/// and an application can embed it instead with [`hook`].
///
/// A runner binary's whole `main`:
///
/// ```no_run
/// # fn main_of_the_runner_binary() -> ! {
/// switchboard_host::isolation::runner_main()
/// # }
/// ```
pub fn runner_main() -> ! {
    let code = match run() {
        Ok(()) => 0,
        Err(message) => {
            use std::io::Write;
            let _ = writeln!(io::stderr(), "switchboard-runner: {message}");
            70
        }
    };
    std::process::exit(code)
}

/// Makes this binary its own runner: call it first thing in `main`. When the host started this
/// executable as a runner (with [`RUNNER_ARG`]), it runs the runner and never returns;
/// otherwise it returns at once, and remembers that the host may start this executable as its
/// runner ([`RunnerCommand::locate`](super::RunnerCommand::locate) then picks it).
///
/// The first line of the application's `main`:
///
/// ```no_run
/// switchboard_host::isolation::hook();
/// // … the application, which builds a `Host` and may load plugins isolated.
/// ```
pub fn hook() {
    if std::env::args_os().nth(1).is_some_and(|a| a == RUNNER_ARG) {
        runner_main()
    }
    super::launch::HOOKED.store(true, std::sync::atomic::Ordering::Release);
}

fn run() -> Result<(), String> {
    let stdin = io::stdin();
    let control = std::os::fd::AsFd::as_fd(&stdin)
        .try_clone_to_owned()
        .map_err(|e| format!("no control channel on stdin: {e}"))?;
    let mut control = Channel::new(UnixStream::from(control), DEFAULT_MAX_FRAME);
    let mut buf = Vec::new();
    let (bytes, fds) = control
        .recv_with_fds(&mut buf)
        .map_err(|e| format!("no init message from the host: {e}"))?;
    let init: Init =
        postcard::from_bytes(bytes).map_err(|e| format!("a malformed init message: {e}"))?;
    let mut fds = fds.into_iter();
    let (Some(image), Some(outbound)) = (fds.next(), fds.next()) else {
        return Err("the init message came without the image and the outbound channel".into());
    };
    match start_plugin(&init, &image, outbound) {
        Ok((plugin, layers)) => {
            control
                .send(&(RUNNER_MAGIC, InitReply::Ready { layers }))
                .map_err(|e| format!("cannot answer the host: {e}"))?;
            serve_control(control, Arc::new(plugin))
        }
        Err(error) => {
            let _ = control.send(&(RUNNER_MAGIC, InitReply::Failed { error }));
            Ok(())
        }
    }
}

/// Sandbox, open, check, instantiate.
fn start_plugin(
    init: &Init,
    image: &OwnedFd,
    outbound: OwnedFd,
) -> Result<(RawPlugin, Vec<sandbox::LayerStatus>), WireError> {
    let fail = |code: u16, message: String| WireError {
        code,
        message,
        next_step: None,
    };
    if init.protocol != PROTOCOL_VERSION {
        return Err(fail(
            1505,
            format!(
                "the runner speaks protocol {PROTOCOL_VERSION}, the host {}",
                init.protocol
            ),
        ));
    }
    let layers = sandbox::apply(&init.spec).map_err(|e| WireError {
        code: e.code().number(),
        message: e.to_string(),
        next_step: Some(e.next_step()),
    })?;
    let path = format!("/proc/self/fd/{}", image.as_raw_fd());
    #[expect(
        unsafe_code,
        reason = "opening the verified library is the one unsafe step of the runner"
    )]
    // SAFETY: the host verified these bytes and sealed the memfd before sending it (D3); the
    // runner is the process whose purpose is to run this plugin's code, confined.
    let opened = unsafe { LoadedModule::open(std::path::Path::new(&path)) };
    let module = opened.map_err(|e| fail(1506, format!("cannot open the plugin library: {e}")))?;
    if module.manifest_bytes() != init.manifest.as_slice() {
        return Err(fail(
            1506,
            "the library reports another manifest than its section".into(),
        ));
    }
    let services = Arc::new(Proxy::new(
        init.plugin.clone(),
        Mutex::new(Channel::new(UnixStream::from(outbound), DEFAULT_MAX_FRAME)),
        init.max_call_bytes,
    ));
    let plugin = module
        .instantiate(services)
        .map_err(|e| WireError::from(&e))?;
    Ok((plugin, layers))
}

/// Serves the control channel: each frame brings a new call channel. Ends (and with it the
/// process) when the host closes the control channel.
fn serve_control(mut control: Channel, plugin: Arc<RawPlugin>) -> Result<(), String> {
    let mut buf = Vec::new();
    loop {
        let (bytes, fds) = match control.recv_with_fds(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(format!("the control channel failed: {e}")),
        };
        match postcard::from_bytes::<Control>(bytes) {
            Ok(Control::Channel) => {}
            Err(e) => return Err(format!("a malformed control message: {e}")),
        }
        for fd in fds {
            let plugin = plugin.clone();
            let mut channel = Channel::new(UnixStream::from(fd), DEFAULT_MAX_FRAME);
            // Back-to-back calls find the runner's thread awake.
            channel.set_spin(RUNNER_SPIN);
            let slot = Arc::new(Mutex::new(Some(channel)));
            let taken = slot.clone();
            let spawned = std::thread::Builder::new()
                .name("switchboard-runner-call".into())
                .spawn(move || {
                    if let Some(channel) = taken.lock().take() {
                        serve_calls(channel, &plugin);
                    }
                });
            if let Err(e) = spawned {
                if let Some(channel) = slot.lock().take() {
                    refuse_channel(channel, &e);
                }
            }
        }
    }
}

/// No thread for a new channel (the plugin's limits, or the machine's): the call waiting on
/// it is answered with `SB1508` and the channel closed — the runner and its other channels
/// carry on, and the host does not reuse this one.
fn refuse_channel(mut channel: Channel, error: &io::Error) {
    let mut buf = Vec::new();
    if channel
        .set_deadline(Some(
            std::time::Instant::now() + std::time::Duration::from_secs(5),
        ))
        .and_then(|()| channel.recv(&mut buf).map(|_| ()))
        .is_err()
    {
        return;
    }
    let error = WireError {
        code: super::backend::NO_THREAD.number(),
        message: format!("the runner cannot start a thread for this call: {error}"),
        next_step: Some(
            "fewer calls at once (or less nesting), or a higher memory limit for the plugin".into(),
        ),
    };
    let _ = channel.send(&Frame::Reply(Err(error)));
}

/// Serves one call channel until the host closes it.
fn serve_calls(channel: Channel, plugin: &RawPlugin) {
    CURRENT.with(|c| *c.borrow_mut() = Some(channel));
    let mut buf = Vec::new();
    let mut out = ResponseBuffer::new();
    loop {
        let received = CURRENT.with(|c| match c.borrow_mut().as_mut() {
            Some(channel) => channel.recv(&mut buf).map(|_| ()),
            None => Err(io::ErrorKind::NotConnected.into()),
        });
        if received.is_err() {
            return;
        }
        let reply = match postcard::from_bytes::<Frame<'_>>(&buf) {
            Ok(Frame::Call(call)) => run_call(plugin, call, &mut out),
            // Only calls come this way; anything else means the host is not the host.
            _ => return,
        };
        let frame: Frame<'_> = Frame::Reply(match &reply {
            Ok(Answer::Buffer) => Ok(out.as_slice()),
            Ok(Answer::Bytes(bytes)) => Ok(bytes.as_slice()),
            Err(e) => Err(e.clone()),
        });
        let sent = CURRENT.with(|c| match c.borrow_mut().as_mut() {
            Some(channel) => channel.send(&frame),
            None => Err(io::ErrorKind::NotConnected.into()),
        });
        out.release_if_larger_than(1 << 20);
        if sent.is_err() {
            return;
        }
    }
}

enum Answer {
    /// The response is in the response buffer.
    Buffer,
    Bytes(Vec<u8>),
}

fn run_call(
    plugin: &RawPlugin,
    call: Call<'_>,
    out: &mut ResponseBuffer,
) -> Result<Answer, WireError> {
    let wire = |e: PluginError| WireError::from(&e);
    match call {
        Call::Dispatch { method, request } => plugin
            .dispatch(method, request, out)
            .map(|()| Answer::Buffer)
            .map_err(wire),
        Call::DispatchStream { method, request } => plugin
            .dispatch_stream(method, request, &mut super::proxy::ChannelSink, out)
            .map(|()| Answer::Buffer)
            .map_err(wire),
        Call::OnEvent { topic, envelope } => plugin
            .on_event(topic, envelope)
            .map(|()| Answer::Bytes(Vec::new()))
            .map_err(wire),
        Call::Start => plugin
            .start()
            .map(|()| Answer::Bytes(Vec::new()))
            .map_err(wire),
        Call::Stop => plugin
            .stop()
            .map(|()| Answer::Bytes(Vec::new()))
            .map_err(wire),
        Call::Health => Ok(Answer::Bytes(encode_health(&plugin.health()))),
        Call::Snapshot => plugin.snapshot().map(Answer::Bytes).map_err(wire),
        Call::Restore(state) => plugin
            .restore(state)
            .map(|()| Answer::Bytes(Vec::new()))
            .map_err(wire),
    }
}
