//! The end user's tiny installer: a link in, an installed app out. Only a
//! placeholder so far (the bootstrap issue builds it); it says so and exits.

#![forbid(unsafe_code)]

fn main() {
    eprintln!("quince-bootstrap: not built yet; see the README for what works today");
    std::process::exit(2);
}
