//! The smallest Switchboard host: load the `hello` plugin and call each of its commands.
//!
//! Run it with `cargo run -p host-basic` (it builds the plugin first), or pass the path of a
//! built `libhello.so` as an argument. With `--isolated` the plugin runs in a sandboxed child
//! process — this very executable, started again as the runner (see the first line of `main`).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![expect(
    clippy::print_stdout,
    reason = "an example program reports what it does"
)]

use std::path::PathBuf;

use anyhow::Result;
use hello::{AddRequest, AddResponse, Payload};
use switchboard_host::isolation::Mode;
use switchboard_host::{Host, LoadOptions};

fn main() -> Result<()> {
    // First thing: when the host starts this executable as an isolated plugin's runner, this
    // call runs the runner and never returns.
    switchboard_host::isolation::hook();

    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let isolated = args.iter().any(|a| a == "--isolated");
    let library = match args.into_iter().find(|a| a != "--isolated") {
        Some(path) => PathBuf::from(path),
        None => {
            switchboard_cli::examples::library(switchboard_cli::examples::Profile::Debug, "hello")?
        }
    };

    let data = tempfile::tempdir()?;
    let mut builder = Host::builder();
    builder
        .data_dir(data.path())
        // The host API `hello`'s plugin.toml requires.
        .host_api("switchboard-demo", "0.1.0")
        .on_log(|r| println!("  [{} {}] {}", r.plugin, r.level, r.message));
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;

    let mut options = LoadOptions::new();
    if isolated {
        options.isolation(Mode::Isolated);
    }
    let plugin = host.load_unsigned_with(&library, &options)?;
    plugin.start()?;
    let isolation = plugin.isolation();
    println!(
        "loaded {} {} ({})",
        plugin.name(),
        plugin.version(),
        isolation.mode
    );
    for layer in isolation.layers.iter().filter(|l| l.active) {
        println!("  sandbox {:?}: {}", layer.layer, layer.detail);
    }

    let greet = plugin.command::<String, String>("greet")?;
    println!("greet  -> {}", greet.call(&"world".to_string())?);

    let add = plugin.command::<AddRequest, AddResponse>("add")?;
    println!("add    -> {:?}", add.call(&AddRequest { a: 2, b: 3 })?);

    let reverse = plugin.command::<Payload, Payload>("reverse")?;
    let out = reverse.call(&Payload {
        data: b"stressed".to_vec(),
    })?;
    println!("reverse-> {}", String::from_utf8_lossy(&out.data));

    let checksum = plugin.raw_command("checksum")?;
    println!("checksum(raw) -> {:?}", checksum.call(b"abc")?);

    let upper = plugin.raw_command("upper")?;
    println!(
        "upper(raw)    -> {}",
        String::from_utf8_lossy(&upper.call(b"quiet")?)
    );

    let crash = plugin.command::<(), ()>("crash")?;
    match crash.call(&()) {
        Ok(()) => println!("crash  -> returned?!"),
        Err(e) => println!(
            "crash  -> {}: {e} (plugin is now {})",
            e.code(),
            plugin.state()
        ),
    }
    Ok(())
}
