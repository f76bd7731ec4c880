//! The runner process the end-to-end tests start for isolated plugins: an executable whose
//! `main` is `switchboard_host::isolation::runner_main`, as an application that ships its own
//! runner binary would write it.

fn main() {
    switchboard_host::isolation::runner_main()
}
