//! The `vmlab` binary: a thin shell over the library's CLI.

fn main() {
    // ssh runs this binary as its askpass helper to get a lab password without a prompt.
    if let Some(secret) = vmlab::engine::api::askpass_secret() {
        println!("{secret}");
        return;
    }
    std::process::exit(vmlab::cli::main());
}
